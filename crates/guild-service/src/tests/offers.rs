//! Withdrawing an offer: only its maker, only before it is accepted; the asker is told, cannot
//! accept it any more, and sees what became of it.

use super::*;

/// A (asker) and B (offerer) as two services; B's offer on A's need delivered to A.
fn offered() -> (Harness, Harness, Signed<Need>, RecordId) {
    let mut a = harness(2);
    let mut b = harness(3);
    let n = a_need(&a.me, T0);
    a.svc.store_record(&AnyRecord::Need(n.clone()), T0).unwrap();
    b.gossip(&a.me, AnyRecord::Need(n.clone()), MS).unwrap();
    b.svc.call(
        CallId(1),
        ServiceCall::Offer(OfferParams {
            need: n.id(),
            text: "I can review it".into(),
            role: None,
        }),
        MS,
    );
    let (rid, to, req) = b.requests().pop().expect("the offer is sent");
    assert_eq!(to, a.me.public());
    let DirectRequest::Deliver(offer) = req else {
        panic!("not a delivery: {req:?}")
    };
    let offer_id = offer.id();
    assert_eq!(a.deliver(&b.me, *offer, MS), DirectResponse::Ack);
    b.svc.received_response(rid, Ok(DirectResponse::Ack), MS);
    b.svc.take_outbox();
    a.svc.take_outbox();
    (a, b, n, offer_id)
}

fn withdraw(b: &mut Harness, offer: RecordId, call: u64) -> Option<Result<Reply, CallError>> {
    b.svc.call(
        CallId(call),
        ServiceCall::OfferWithdraw(OfferWithdrawParams {
            offer,
            reason: "found someone closer".into(),
        }),
        MS + 1_000,
    );
    b.reply(CallId(call))
}

fn offer_view(h: &mut Harness, id: RecordId) -> OfferView {
    let offers: Offers = TryFrom::try_from(
        h.call(ServiceCall::Offers(OffersParams { need: None }), MS + 2_000)
            .unwrap(),
    )
    .unwrap();
    offers.offers.into_iter().find(|o| o.id == id).unwrap()
}

#[test]
fn a_withdrawn_offer_reaches_the_asker_who_can_no_longer_accept_it() {
    let (mut a, mut b, _, offer) = offered();
    assert_eq!(
        offer_view(&mut b, offer).need_status,
        Some(NeedStatus::Open)
    );
    assert!(
        withdraw(&mut b, offer, 2).is_none(),
        "answered after the delivery"
    );
    let (rid, to, req) = b.requests().pop().expect("the withdrawal is delivered");
    assert_eq!(to, a.me.public());
    let DirectRequest::Deliver(rev) = req else {
        panic!("not a delivery: {req:?}")
    };
    assert_eq!(
        a.deliver(&b.me, *rev.clone(), MS + 1_000),
        DirectResponse::Ack
    );
    b.svc
        .received_response(rid, Ok(DirectResponse::Ack), MS + 1_000);
    let d: Delivery = TryFrom::try_from(b.reply(CallId(2)).unwrap().unwrap()).unwrap();
    assert!(d.delivered);
    assert!(a.events().iter().any(|e| matches!(
        e,
        Event::OfferWithdrawn { offer: o, from, .. } if *o == offer && *from == b.me.public()
    )));
    assert!(offer_view(&mut a, offer).withdrawn);
    assert!(offer_view(&mut b, offer).withdrawn);
    let err = a
        .call(ServiceCall::Accept(AcceptParams { offer }), MS + 3_000)
        .unwrap_err();
    assert!(err.message.contains("withdrawn"), "{}", err.message);
    // Twice is refused on both sides.
    let again = withdraw(&mut b, offer, 3).unwrap().unwrap_err();
    assert!(
        again.message.contains("already withdrawn"),
        "{}",
        again.message
    );
    assert_eq!(
        refusal(a.deliver(&b.me, *rev, MS + 4_000)),
        RefusalReason::Duplicate
    );
}

#[test]
fn only_the_maker_can_withdraw_an_offer_and_not_once_accepted() {
    let (mut a, mut b, _, offer) = offered();
    // The asker cannot withdraw someone else's offer through the call…
    let err = withdraw(&mut a, offer, 5).unwrap().unwrap_err();
    assert!(err.message.contains("not by you"), "{}", err.message);
    // …and a third member's signed withdrawal is refused before its signature is checked.
    let mallory = identity(9);
    let forged = revocation(&mallory, offer, RecordKind::Offer, T0);
    assert_eq!(
        refusal(a.deliver(&mallory, AnyRecord::Revocation(forged), MS)),
        RefusalReason::NotAddressedHere
    );
    // A withdrawal of anything but an offer is not delivered directly, even by its issuer.
    let n2 = a_need(&b.me, T0);
    b.svc
        .store_record(&AnyRecord::Need(n2.clone()), T0)
        .unwrap();
    let of_need = revocation(&b.me, n2.id(), RecordKind::Need, T0);
    assert_eq!(
        refusal(a.deliver(&b.me, AnyRecord::Revocation(of_need), MS)),
        RefusalReason::NotAddressedHere
    );
    // Once accepted, the maker cannot withdraw it any more: the team counts on them.
    a.call(ServiceCall::Accept(AcceptParams { offer }), MS + 500)
        .unwrap();
    let collab = a
        .requests()
        .into_iter()
        .find_map(|(_, _, r)| match r {
            DirectRequest::Deliver(c) => Some(*c),
            _ => None,
        })
        .expect("the collaboration is delivered to the offerer");
    assert_eq!(b.deliver(&a.me, collab, MS + 600), DirectResponse::Ack);
    let err = withdraw(&mut b, offer, 6).unwrap().unwrap_err();
    assert!(err.message.contains("accepted"), "{}", err.message);
    // A withdrawal signed before the accept and arriving after it is refused as closed.
    let late = revocation(&b.me, offer, RecordKind::Offer, T0);
    assert_eq!(
        refusal(a.deliver(&b.me, AnyRecord::Revocation(late), MS + 700)),
        RefusalReason::Closed
    );
    assert!(!offer_view(&mut a, offer).withdrawn);
}

#[test]
fn the_offerer_sees_what_became_of_the_need() {
    let (mut a, mut b, n, offer) = offered();
    a.call(
        ServiceCall::NeedWithdraw(WithdrawParams {
            need: n.id(),
            reason: String::new(),
        }),
        MS + 100,
    )
    .unwrap();
    let rev = a
        .svc
        .take_outbox()
        .into_iter()
        .find_map(|io| match io {
            Io::Publish { data, .. } => AnyRecord::decode(&data).ok(),
            _ => None,
        })
        .expect("the withdrawal is published");
    b.gossip(&a.me, rev, MS + 200).unwrap();
    let v = offer_view(&mut b, offer);
    assert_eq!(v.need_status, Some(NeedStatus::Withdrawn));
    assert!(!v.withdrawn);
    // An expired need reads as expired, not open.
    let (_, mut b2, n2, offer2) = offered();
    let later = (n2.body.expires_at + 1) * 1000;
    let offers: Offers = TryFrom::try_from(
        b2.call(ServiceCall::Offers(OffersParams { need: None }), later)
            .unwrap(),
    )
    .unwrap();
    let v = offers.offers.iter().find(|o| o.id == offer2).unwrap();
    assert_eq!(v.need_status, Some(NeedStatus::Expired));
}
