//! Small field checks shared by the record types' validation functions.

use super::{RecordError, RecordKind};
use crate::skill::SkillTag;

/// Field checks bound to one record kind, so every error names the kind and the field.
pub struct FieldCheck(pub RecordKind);

impl FieldCheck {
    /// The error for `field` breaking a rule.
    pub fn error(&self, field: &'static str, reason: impl Into<String>) -> RecordError {
        self.err(field, reason.into())
    }

    fn err(&self, field: &'static str, reason: String) -> RecordError {
        RecordError::Field {
            kind: self.0,
            field,
            reason,
        }
    }

    /// A text field of at most `max` bytes with no control characters except newlines and tabs.
    pub fn text(&self, field: &'static str, value: &str, max: usize) -> Result<(), RecordError> {
        if value.len() > max {
            return Err(self.err(
                field,
                format!("{} bytes exceed the limit of {max}", value.len()),
            ));
        }
        if value
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(self.err(field, "contains control characters".into()));
        }
        Ok(())
    }

    /// Like [`FieldCheck::text`] but must not be blank.
    pub fn nonempty_text(
        &self,
        field: &'static str,
        value: &str,
        max: usize,
    ) -> Result<(), RecordError> {
        if value.trim().is_empty() {
            return Err(self.err(field, "must not be empty".into()));
        }
        self.text(field, value, max)
    }

    /// At most `max` items.
    pub fn count(&self, field: &'static str, len: usize, max: usize) -> Result<(), RecordError> {
        if len > max {
            return Err(self.err(field, format!("{len} items exceed the limit of {max}")));
        }
        Ok(())
    }

    /// A tag in normal form.
    pub fn tag(&self, field: &'static str, tag: &SkillTag) -> Result<(), RecordError> {
        tag.check_normalised()
            .map_err(|e| self.err(field, e.to_string()))
    }

    /// Tags in normal form with no duplicates.
    pub fn tags<'a>(
        &self,
        field: &'static str,
        tags: impl IntoIterator<Item = &'a SkillTag>,
    ) -> Result<(), RecordError> {
        let mut seen = std::collections::BTreeSet::new();
        for t in tags {
            self.tag(field, t)?;
            if !seen.insert(t) {
                return Err(self.err(field, format!("tag `{t}` appears twice")));
            }
        }
        Ok(())
    }

    /// A rule that must hold.
    pub fn ensure(
        &self,
        ok: bool,
        field: &'static str,
        reason: impl Into<String>,
    ) -> Result<(), RecordError> {
        if ok {
            Ok(())
        } else {
            Err(self.err(field, reason.into()))
        }
    }
}
