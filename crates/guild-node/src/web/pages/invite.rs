//! Invite: make an invitation code for a newcomer (its text, its link and a QR code drawn on the
//! server as SVG by the `qrcode` crate), list the codes with their uses and revoke one; and the
//! newcomer's side, a form to join with a pasted code (trusting the inviter only if ticked).

use super::{failure, form_status, layout, relative, Names};
use crate::control::Handle;
use crate::web::auth::Session;
use crate::web::routes::App;
use guild_core::control::invite::{InviteView, Invites};
use maud::{html, Markup, PreEscaped};
use serde_json::json;
use std::collections::HashMap;

/// The QR code of a text as inline SVG (black modules on white, with the standard quiet zone),
/// or `None` if the text does not fit a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    // Inline in HTML: without the XML declaration, labelled for screen readers.
    let body = svg.split_once("?>").map_or(svg.as_str(), |(_, b)| b);
    Some(body.replacen(
        "<svg ",
        "<svg class=\"qr\" role=\"img\" aria-label=\"QR code of the invitation link\" ",
        1,
    ))
}

fn state(i: &InviteView, now: u64) -> String {
    if i.revoked {
        "revoked".into()
    } else if i.expires_at <= now {
        "expired".into()
    } else if i.uses >= i.max_uses {
        "used up".into()
    } else {
        format!("open, expires {}", relative(i.expires_at))
    }
}

/// One code shown in full: the text to copy, the link, and its QR code.
fn shown(i: &InviteView) -> Markup {
    html! {
        section #invite-code aria-labelledby="code-h" {
            h2 #code-h { "Invitation " code { (i.id) } }
            p { "Send the newcomer this code (they paste it in their dashboard's Join form, or run "
                code { "guild join <code> --trust" } "):" }
            textarea.code #invite-text readonly rows="4" aria-label="Invitation code" { (i.code) }
            p { "Link: " code.link { (i.link) } }
            @match qr_svg(&i.link) {
                Some(svg) => figure.qr-box { (PreEscaped(svg)) figcaption { "Scan to get the link." } },
                None => p.meta { "This code is too long for a QR code." },
            }
            p.meta { (i.uses) " of " (i.max_uses) " uses · expires " (relative(i.expires_at))
                @if !i.note.is_empty() { " · “" (i.note) "”" } }
        }
    }
}

/// `/invite`.
pub async fn invite<H: Handle>(
    app: &App<H>,
    session: &Session,
    q: &HashMap<String, String>,
) -> Markup {
    let list = app.call::<Invites>("invite.list", json!({})).await;
    let joined: Vec<guild_core::PublicKey> = list
        .iter()
        .flat_map(|l| l.invites.iter())
        .flat_map(|i| i.joined.iter().copied())
        .collect();
    let names = Names::resolve(app, joined).await;
    let now = guild_core::time::now();
    let show = q.get("show").and_then(|id| {
        list.as_ref()
            .ok()
            .and_then(|l| l.invites.iter().find(|i| &i.id == id))
    });
    let body = html! {
        section aria-labelledby="new-h" {
            h2 #new-h { "Invite someone" }
            p.meta { "A code lets a newcomer join this community through you: you become their "
                "sponsor (members who trust you give them a member's budgets, not their trust)." }
            form #invite-form data-call="invite.create" data-next="/invite?show={id}" {
                label for="invite-expires" { "Expires in" }
                select #invite-expires name="expires_secs" data-number {
                    option value="86400" { "1 day" }
                    option value="604800" selected { "7 days" }
                    option value="2592000" { "30 days" }
                }
                label for="invite-uses" { "Uses" }
                input #invite-uses name="uses" type="number" min="1" max="8" value="1";
                label for="invite-note" { "Note for the newcomer" }
                input #invite-note name="note" type="text" maxlength="140" autocomplete="off";
                button type="submit" { "Create invitation" }
                (form_status())
            }
        }
        @if let Some(i) = show { (shown(i)) }
        section #invite-list data-live aria-labelledby="codes-h" {
            h2 #codes-h { "Your codes" }
            @match &list {
                Err(e) => (failure(e)),
                Ok(l) if l.invites.is_empty() => p { "No invitation codes yet." },
                Ok(l) => {
                    div.scroll { table.invites {
                        thead { tr {
                            th scope="col" { "Code" } th scope="col" { "Uses" }
                            th scope="col" { "State" } th scope="col" { "Joined" }
                            th scope="col" { "Note" } th scope="col" { span.visually-hidden { "Revoke" } }
                        } }
                        tbody {
                            @for i in &l.invites {
                                tr {
                                    td { a href={ "/invite?show=" (i.id) } { code { (i.id) } } }
                                    td { (i.uses) "/" (i.max_uses) }
                                    td { (state(i, now)) }
                                    td { @for (n, k) in i.joined.iter().enumerate() {
                                        @if n > 0 { ", " }
                                        a href={ "/member/" (k) } { (names.label(k)) }
                                    } }
                                    td { (i.note) }
                                    td { @if !i.revoked && i.expires_at > now {
                                        form.inline data-call="invite.revoke"
                                            data-confirm="Revoke this code? Nobody can join with it afterwards." {
                                            input type="hidden" name="id" value=(i.id);
                                            @if i.uses > 0 {
                                                label.check {
                                                    input name="sponsorships" type="checkbox";
                                                    " and withdraw its sponsorships"
                                                }
                                            }
                                            button.secondary type="submit" { "Revoke" }
                                            (form_status())
                                        }
                                    } }
                                }
                            }
                        }
                    } }
                }
            }
        }
        section aria-labelledby="join-h" {
            h2 #join-h { "Join with a code" }
            p.meta { "On a new node: paste the code someone gave you. The inviter becomes a "
                "bootstrap peer; tick the box to also trust them." }
            form #join-form data-call="join" {
                label for="join-code" { "Invitation code" }
                textarea #join-code name="code" rows="3" required spellcheck="false" {}
                label.check for="join-trust" {
                    input #join-trust name="trust" type="checkbox";
                    " Trust the inviter"
                }
                button type="submit" { "Join" }
                (form_status())
            }
        }
    };
    layout("Invite", "/invite", session, body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn the_qr_code_is_inline_svg_without_an_xml_declaration() {
        let svg = super::qr_svg("guild://join/guild1-abcdefghijklmnopqrstuvwxyz234567").unwrap();
        assert!(svg.starts_with("<svg class=\"qr\""), "{}", &svg[..60]);
        assert!(svg.ends_with("</svg>"));
        assert!(!svg.contains("<?xml") && !svg.contains("style="));
        assert!(super::qr_svg(&"x".repeat(5_000)).is_none());
    }
}
