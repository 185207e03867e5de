//! Direct messages: signed, delivered with an acknowledgement, stored on both sides.

use super::deliver::REPLAY_PREFIX;
use super::pull::{delivery, sign, PullError};
use super::Node;
use guild_core::control::pull::{Delivery, Inbox, InboxParams, MessageView, MsgParams};
use guild_core::control::Event;
use guild_core::wire::DirectRequest;
use guild_core::{AnyRecord, Message, RecordKind, Signed};
use guild_net::PeerId;

/// Lifetime of a direct message (undelivered ones are dropped after it).
pub const MESSAGE_LIFETIME: u64 = 7 * 86_400;

impl Node {
    /// Sends a direct message.
    pub async fn msg(&self, p: MsgParams) -> Result<Delivery, PullError> {
        if p.peer == self.inner.me {
            return Err(PullError::Invalid("you cannot message yourself".into()));
        }
        let now = guild_core::time::now();
        let m = sign(
            self,
            Message {
                version: guild_core::record::RECORD_VERSION,
                issuer: self.inner.me,
                to: p.peer,
                issued_at: now,
                expires_at: now + MESSAGE_LIFETIME,
                nonce: rand::random(),
                text: p.text,
            },
        )?;
        let id = m.id();
        let record = AnyRecord::Message(m);
        self.inner.store.put_record(&record)?;
        self.inner.store.flush_async().await?;
        let result = self
            .deliver(
                p.peer,
                DirectRequest::Deliver(Box::new(record)),
                id,
                "message",
            )
            .await;
        Ok(delivery(id, result))
    }

    /// A message delivered to us.
    pub(crate) fn receive_message(&self, from: PeerId, m: Signed<Message>) -> Result<(), String> {
        if m.signer.to_peer_id() != from {
            return Err("a message must be delivered by its sender".into());
        }
        if m.body.to != self.inner.me {
            return Err("this message is addressed to someone else".into());
        }
        let id = m.id();
        let event = Event::MessageReceived {
            message: id,
            from: m.signer,
            text: m.body.text.clone(),
        };
        match self.inner.store.put_record(&AnyRecord::Message(m)) {
            Ok(true) => {}
            Ok(false) => return Err(format!("{REPLAY_PREFIX} message {id} was already received")),
            Err(e) => return Err(format!("store error: {e}")),
        }
        let _ = self.inner.store.flush();
        self.emit(event);
        Ok(())
    }

    /// Messages received (and sent, on request), newest first.
    pub fn inbox(&self, p: InboxParams) -> Result<Inbox, PullError> {
        let me = self.inner.me;
        let mut messages: Vec<MessageView> = self
            .inner
            .store
            .records_of_kind(RecordKind::Message)
            .filter_map(|r| r.ok())
            .filter_map(|r| Signed::<Message>::try_from(r).ok())
            .filter(|m| m.body.to == me || (p.include_sent && m.signer == me))
            .map(|m| MessageView {
                id: m.id(),
                from: m.signer,
                to: m.body.to,
                text: m.body.text.clone(),
                at: m.body.issued_at,
            })
            .collect();
        messages.sort_by(|a, b| b.at.cmp(&a.at).then(a.id.cmp(&b.id)));
        Ok(Inbox { messages })
    }
}
