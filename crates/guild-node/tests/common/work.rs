//! Work two test nodes do together: a need answered, a collaboration opened and closed, and
//! the trust one then has in the other.

use super::{next_event, poll_until_async, TestNode};
use guild_core::control::pull::*;
use guild_core::control::reputation::*;
use guild_core::control::Event;
use guild_core::fixtures::tag;
use guild_core::RecordId;

/// `asker` asks for `skill` and `helper`, once the need reached it, offers.
pub async fn ask_and_offer(asker: &mut TestNode, helper: &mut TestNode, skill: &str) -> Delivery {
    let nid = asker
        .node
        .ask(AskParams {
            text: format!("help with {skill}"),
            skills: vec![tag(skill)],
            resources: vec![],
            expires_secs: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .need
        .id;
    let hn = helper.node.clone();
    poll_until_async("helper has the need", || {
        let hn = hn.clone();
        async move {
            hn.needs(NeedsParams::default())
                .await
                .unwrap()
                .needs
                .iter()
                .any(|n| n.id == nid)
        }
    })
    .await;
    let o = helper
        .node
        .offer(OfferParams {
            need: nid,
            text: "yes".into(),
            role: None,
        })
        .await
        .unwrap();
    assert!(o.delivered, "{:?}", o.error);
    o
}

/// `asker` and `helper` close their parts, in that order, each seeing the other's close.
pub async fn both_close(asker: &mut TestNode, helper: &mut TestNode, cid: RecordId) {
    asker.node.collab_close(&cid, "done".into()).await.unwrap();
    let ka = asker.key();
    next_event(
        helper,
        "the asker's close",
        |e| matches!(e, Event::CollabEntryAdded { kind, author, .. } if kind == "close" && *author == ka),
    )
    .await;
    helper.node.collab_close(&cid, String::new()).await.unwrap();
    let kh = helper.key();
    next_event(
        asker,
        "the helper's close",
        |e| matches!(e, Event::CollabEntryAdded { kind, author, .. } if kind == "close" && *author == kh),
    )
    .await;
}

/// `asker` asks for `skill`, `helper` offers, `asker` accepts, and both close their parts.
/// Returns the collaboration.
pub async fn collaborate(asker: &mut TestNode, helper: &mut TestNode, skill: &str) -> RecordId {
    let o = ask_and_offer(asker, helper, skill).await;
    let cid = asker
        .node
        .accept(AcceptParams { offer: o.id })
        .await
        .unwrap()
        .id;
    next_event(
        helper,
        "collab opened",
        |e| matches!(e, Event::CollabOpened { collab, .. } if *collab == cid),
    )
    .await;
    both_close(asker, helper, cid).await;
    cid
}

pub async fn trust(n: &TestNode, of: &TestNode) -> f64 {
    n.node
        .trust(TrustParams {
            peer: of.key(),
            skill: None,
        })
        .await
        .unwrap()
        .score
}
