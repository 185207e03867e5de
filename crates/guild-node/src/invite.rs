//! The daemon's half of invitations: the addresses a code carries, and `join` — check the code,
//! reach the inviter, present the code, and only on the inviter's sponsorship record the
//! community and the inviter in the config file and (with consent) add the inviter as a trust
//! root. Any refusal changes nothing.

use crate::node::Node;
use guild_core::control::invite::{invite_error, JoinParams, Joined};
use guild_core::control::reputation::TrustAddParams;
use guild_core::control::{CallError, Reply, ServiceCall};
use guild_core::invite::SignedInvitation;
use guild_net::multiaddr::Protocol;
use guild_net::Multiaddr;
use std::path::Path;

/// The addresses a new code carries: where we listen (loopback included, so a newcomer on the
/// same machine or LAN can use it), without unspecified ones.
pub fn reachable_addrs(node: &Node) -> Vec<String> {
    let mut addrs: Vec<String> = Vec::new();
    for a in node.snapshot().listen {
        let unspecified = a.iter().any(|p| match p {
            Protocol::Ip4(ip) => ip.is_unspecified(),
            Protocol::Ip6(ip) => ip.is_unspecified(),
            _ => false,
        });
        let bare: Multiaddr = a
            .iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect();
        let text = bare.to_string();
        if !unspecified && !addrs.contains(&text) {
            addrs.push(text);
        }
    }
    // Public addresses first, then private, loopback last: the newcomer tries them in order.
    addrs.sort_by_key(|a| {
        (
            a.starts_with("/ip4/127.") || a.starts_with("/ip6/::1/"),
            a.clone(),
        )
    });
    addrs
}

/// Whether a home may move to an invitation's community: it still has the default community
/// and no bootstrap peer, so it never joined anyone (a community is chosen once, by the first
/// join; a home that joined one keeps it, and another community needs another home).
pub fn may_move(community: &str, bootstrap_peers: usize) -> bool {
    community == guild_net::config::DEFAULT_COMMUNITY && bootstrap_peers == 0
}

/// Parses a code and runs every check a newcomer can make alone.
pub fn check_code(text: &str, community: Option<&str>) -> Result<SignedInvitation, CallError> {
    let now = guild_core::time::now();
    let code = SignedInvitation::parse(text).map_err(|e| invite_error(&e))?;
    code.check(now, community).map_err(|e| invite_error(&e))?;
    Ok(code)
}

/// `join`: see the module docs.
pub async fn join(node: &Node, config: Option<&Path>, p: JoinParams) -> Result<Joined, CallError> {
    let code = check_code(&p.code, None)?;
    if code.body.community != node.community() {
        // The community is part of every protocol id: a running node cannot speak to the
        // inviter's community at all, so it cannot present the code.
        let message = if node.may_move() {
            format!(
                "this invitation is for community `{}`, and this daemon runs in `{}`: it has joined no one yet, so this home can move — stop the daemon (`guild shutdown`) and start it with `guild daemon --join <code>{}`",
                code.body.community,
                node.community(),
                if p.trust { " --trust" } else { "" }
            )
        } else {
            guild_core::invite::InviteError::OtherCommunity {
                code: code.body.community.clone(),
                home: node.community().to_string(),
            }
            .to_string()
        };
        return Err(CallError::new(
            guild_core::control::ErrorCode::Other(
                guild_core::control::invite::codes::OTHER_COMMUNITY,
            ),
            message,
        ));
    }
    let inviter = code.body.inviter;
    if inviter == node.public_key() {
        return Err(CallError::invalid_params(
            "this is one of your own invitation codes; give it to the newcomer",
        ));
    }
    let peer = inviter.to_peer_id();
    let mut reached = None;
    let mut tried = Vec::new();
    for a in &code.body.addrs {
        let Ok(addr) = a.parse::<Multiaddr>() else {
            tried.push(format!("{a}: not a multiaddr"));
            continue;
        };
        match node
            .net()
            .dial(addr.clone().with(Protocol::P2p(peer)))
            .await
        {
            Ok(p) if p == peer => {
                reached = Some(addr);
                break;
            }
            Ok(other) => tried.push(format!("{a}: answered by {other}")),
            Err(e) => tried.push(format!("{a}: {e}")),
        }
    }
    let Some(addr) = reached else {
        return Err(CallError::peer_unreachable(format!(
            "the inviter could not be reached at any address of the code ({}); nothing was changed",
            if tried.is_empty() {
                "the code has none".to_string()
            } else {
                tried.join("; ")
            }
        )));
    };
    let mut joined = match node.present_invite(code.clone()).await? {
        Reply::Joined(j) => j,
        other => {
            return Err(CallError::internal(format!(
                "unexpected reply to a join: {other:?}"
            )))
        }
    };
    let bootstrap = addr.clone().with(Protocol::P2p(peer));
    if let Some(path) = config {
        record_in_config(path, &code.body.community, &bootstrap.to_string())
            .map_err(|e| CallError::internal(format!("joined, but {e}")))?;
    }
    // The inviter stays in the address book for this run too (the config covers restarts).
    let _ = node.net().add_address(peer, addr.clone()).await;
    if p.trust {
        node.call(ServiceCall::TrustAdd(TrustAddParams {
            peer: inviter,
            skill: None,
            note: "invited me".into(),
        }))
        .await?;
    }
    joined.community = code.body.community.clone();
    joined.trusted = p.trust;
    joined.address = addr.to_string();
    Ok(joined)
}

/// Sets `network.community` and adds the inviter to `network.bootstrap` in the config file,
/// keeping its comments and layout (`toml_edit`). Written to a temporary file then renamed, so
/// a crash leaves the old or the new file, never half of one.
pub fn record_in_config(path: &Path, community: &str, bootstrap: &str) -> Result<(), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| format!("cannot edit {}: {e}", path.display()))?;
    let network = doc
        .entry("network")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .ok_or_else(|| format!("{}: `network` is not a table", path.display()))?;
    network["community"] = toml_edit::value(community);
    let list = network
        .entry("bootstrap")
        .or_insert(toml_edit::value(toml_edit::Array::new()))
        .as_array_mut()
        .ok_or_else(|| format!("{}: `network.bootstrap` is not a list", path.display()))?;
    if !list.iter().any(|v| v.as_str() == Some(bootstrap)) {
        list.push(bootstrap);
    }
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, doc.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn joining_records_the_community_and_inviter_and_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, crate::config::DEFAULT_CONFIG).unwrap();
        let boot =
            "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFYVfnFKGTuL9KRfpGHyJXC48zqmwZnRLMiUcNGmGPA8E";
        record_in_config(&path, "garden", boot).unwrap();
        record_in_config(&path, "garden", boot).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("# The community this node belongs to"));
        let (config, _) = crate::config::Config::load(&path).unwrap();
        assert_eq!(config.network.community, "garden");
        assert_eq!(config.network.bootstrap, vec![boot.to_string()]);
    }
}
