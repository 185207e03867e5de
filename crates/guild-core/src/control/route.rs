//! Where each call is served: the one place that decides it.
//!
//! [`Call`] is the wire's view — one variant per method, what clients build. The daemon serves a
//! call in one of three places, and [`Call::route`] says which, once, at the edge where the call
//! arrives (the control server, the dashboard): the node's domain logic ([`ServiceCall`], served
//! by `guild_service::Service` through the node loop), the daemon around it ([`DaemonCall`]:
//! what needs the network layer or the process), or the connection itself (`subscribe` turns it
//! into an event stream). Each server then matches only the calls it serves — no "served
//! elsewhere" arms, and a new method does not compile until the table below places it.

use super::call::{Call, ConnectParams, FindParams, SubscribeParams};
use super::call::{ProfileGetParams, ProfileSetParams, ProfileUpdateParams};
use super::{intro, invite, pull, reflect, reputation};

/// Where a call is served.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    /// Answered once, by the service or by the daemon.
    Unary(Unary),
    /// `subscribe`: the connection becomes a stream of events (served by the connection's server).
    Stream(SubscribeParams),
}

/// A call answered once (every method but `subscribe`; the name is gRPC's, for the same idea).
#[derive(Debug, Clone, PartialEq)]
pub enum Unary {
    /// Domain logic: the service's state and rules.
    Service(ServiceCall),
    /// The daemon around the service: its process, the network layer, the find snapshot.
    Daemon(DaemonCall),
}

macro_rules! routes {
    (
        daemon { $( $dv:ident $(($dp:ty))? ),* $(,)? }
        service { $( $sv:ident $(($sp:ty))? ),* $(,)? }
    ) => {
        /// The calls the daemon serves around the service (see [`Route`]).
        #[derive(Debug, Clone, PartialEq)]
        pub enum DaemonCall {
            $( #[doc = concat!("[`Call::", stringify!($dv), "`].")] $dv $(($dp))?, )*
        }

        /// The calls the service serves: the node's domain logic (see [`Route`]).
        #[derive(Debug, Clone, PartialEq)]
        pub enum ServiceCall {
            $( #[doc = concat!("[`Call::", stringify!($sv), "`].")] $sv $(($sp))?, )*
        }

        impl Call {
            /// Where this call is served.
            pub fn route(self) -> Route {
                match self {
                    $( routes!(@v Call $dv p $($dp)?) =>
                        Route::Unary(Unary::Daemon(routes!(@v DaemonCall $dv p $($dp)?))), )*
                    $( routes!(@v Call $sv p $($sp)?) =>
                        Route::Unary(Unary::Service(routes!(@v ServiceCall $sv p $($sp)?))), )*
                    Call::Subscribe(p) => Route::Stream(p),
                }
            }
        }

        impl From<DaemonCall> for Call {
            fn from(c: DaemonCall) -> Call {
                match c {
                    $( routes!(@v DaemonCall $dv p $($dp)?) => routes!(@v Call $dv p $($dp)?), )*
                }
            }
        }

        impl From<ServiceCall> for Call {
            fn from(c: ServiceCall) -> Call {
                match c {
                    $( routes!(@v ServiceCall $sv p $($sp)?) => routes!(@v Call $sv p $($sp)?), )*
                }
            }
        }
    };
    (@v $enum:ident $v:ident $p:ident) => { $enum::$v };
    (@v $enum:ident $v:ident $p:ident $t:ty) => { $enum::$v($p) };
}

routes! {
    daemon {
        Status,
        Peers,
        Find(FindParams),
        Connect(ConnectParams),
        WebLogin,
        Shutdown,
        InviteCreate(invite::InviteCreateParams),
        Join(invite::JoinParams),
    }
    service {
        ProfileGet(ProfileGetParams),
        ProfileSet(ProfileSetParams),
        ProfileUpdate(ProfileUpdateParams),
        Ask(pull::AskParams),
        Needs(pull::NeedsParams),
        NeedWithdraw(pull::WithdrawParams),
        Offer(pull::OfferParams),
        Offers(pull::OffersParams),
        OfferWithdraw(pull::OfferWithdrawParams),
        Accept(pull::AcceptParams),
        Team(pull::TeamParams),
        TeamRelease(pull::ReleaseParams),
        TeamStop(pull::TeamParams),
        TeamSuggest(pull::TeamParams),
        CollabList,
        CollabShow(pull::CollabParams),
        CollabPost(pull::CollabPostParams),
        CollabInvite(pull::CollabInviteParams),
        CollabJoin(pull::CollabParams),
        CollabClose(pull::CollabCloseParams),
        Msg(pull::MsgParams),
        Inbox(pull::InboxParams),
        Vouch(reputation::VouchParams),
        Revoke(reputation::RevokeParams),
        Attestations(reputation::AttestationsParams),
        Trust(reputation::TrustParams),
        TrustAdd(reputation::TrustAddParams),
        TrustRemove(reputation::TrustRemoveParams),
        TrustRoots,
        Pulse(reflect::PulseParams),
        Growth(reflect::GrowthParams),
        IntroIntroducers(intro::IntroducersParams),
        IntroRequest(intro::IntroRequestParams),
        IntroList,
        IntroAnswer(intro::IntroAnswerParams),
        InviteList,
        InviteRevoke(invite::InviteRevokeParams),
    }
}

impl From<Unary> for Call {
    fn from(u: Unary) -> Call {
        match u {
            Unary::Service(c) => c.into(),
            Unary::Daemon(c) => c.into(),
        }
    }
}

impl Unary {
    /// The method name on the wire.
    pub fn method(&self) -> &'static str {
        Call::from(self.clone()).method()
    }
}

impl From<ServiceCall> for Unary {
    fn from(c: ServiceCall) -> Unary {
        Unary::Service(c)
    }
}

impl From<DaemonCall> for Unary {
    fn from(c: DaemonCall) -> Unary {
        Unary::Daemon(c)
    }
}
