//! Do Not Contact entries (`LeadBundle/Model/DoNotContact.php`).

use super::{Dnc, ItemError, State};
use chrono::{DateTime, Utc};

/// `DoNotContact::UNSUBSCRIBED`.
const UNSUBSCRIBED: i64 = 1;

impl State {
    /// `DoNotContact::addDncForContact`: no entry on the channel gives a new one; an entry
    /// with another reason is updated (reason, comments, date), unless the contact
    /// unsubscribed (reason 1), which nothing replaces; the same reason again changes nothing.
    /// The contact's `date_modified` moves only when an entry was made or changed
    /// (`FormModel::setTimestamps` skips an entity without changes). Whether it changed.
    pub fn add_dnc(
        &mut self,
        id: u64,
        channel: &str,
        reason: i64,
        comments: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ItemError> {
        let dnc_id = self.next_dnc;
        let id = self.resolve_contact(id).ok_or_else(ItemError::not_found)?;
        let mut created = false;
        let changed = self
            .change_contact(id, |c| {
                let changed = match c.dnc.iter_mut().find(|d| d.channel == channel) {
                    None => {
                        c.dnc.push(Dnc {
                            id: dnc_id,
                            channel: channel.to_owned(),
                            reason,
                            comments: comments.to_owned(),
                            date_added: now,
                        });
                        created = true;
                        true
                    }
                    Some(d) if d.reason != UNSUBSCRIBED && d.reason != reason => {
                        d.reason = reason;
                        d.comments = comments.to_owned();
                        d.date_added = now;
                        true
                    }
                    Some(_) => false,
                };
                if changed {
                    c.date_modified = Some(now);
                }
                changed
            })
            .unwrap_or(false);
        if created {
            self.next_dnc += 1;
        }
        Ok(changed)
    }

    /// `DoNotContact::removeDncForContact`: removes the channel's first entry, whatever its
    /// reason (an unsubscribe too); whether there was one. The contact is saved only then.
    pub fn remove_dnc(
        &mut self,
        id: u64,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, ItemError> {
        let id = self.resolve_contact(id).ok_or_else(ItemError::not_found)?;
        Ok(self
            .change_contact(id, |c| {
                let Some(i) = c.dnc.iter().position(|d| d.channel == channel) else {
                    return false;
                };
                c.dnc.remove(i);
                c.date_modified = Some(now);
                true
            })
            .unwrap_or(false))
    }
}
