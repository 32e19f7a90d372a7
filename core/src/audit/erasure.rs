//! Which audit entries had their personal fields erased, and whether an erasure receipt
//! covers each of them (docs/FORMAT.md, "Erasable personal fields").
//!
//! The SDK writes the receipt (`retention.erase_subject` with an `audit_erased_seqs`
//! detail) before it deletes the fields, so every erasure it makes is covered by a later,
//! MACed entry. Personal fields that vanish without one were deleted by someone else (a
//! database writer hiding who did something): verification reports them.

use std::collections::BTreeSet;

use super::entry::AuditEntry;
use super::AuditAction;

/// The detail of an erasure receipt that lists the entries it erases (`3-7,12`).
pub const ERASED_SEQS_DETAIL: &str = "audit_erased_seqs";

/// At most this many entries are listed by one receipt (its line stays a few KiB).
pub const MAX_ERASED_PER_RECEIPT: usize = 256;

/// Formats ascending `seqs` as ranges: `1-3,7,9-10`.
pub fn format_ranges(seqs: &[u64]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < seqs.len() {
        let lo = seqs[i];
        let mut hi = lo;
        while i + 1 < seqs.len() && seqs[i + 1] == hi + 1 {
            hi += 1;
            i += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&lo.to_string());
        if hi > lo {
            out.push('-');
            out.push_str(&hi.to_string());
        }
        i += 1;
    }
    out
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses [`format_ranges`] output strictly (ascending, disjoint, no leading zeros);
/// `None` for anything else, which then covers nothing.
pub fn parse_ranges(s: &str) -> Option<Vec<(u64, u64)>> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if lo > hi || lo == 0 || out.last().is_some_and(|&(_, h)| lo <= h.saturating_add(1)) {
            return None;
        }
        out.push((lo, hi));
    }
    Some(out)
}

/// Follows a log in order: checks each entry's personal fields against its commitment,
/// and that every erased entry is covered by a later erasure receipt.
#[derive(Debug, Clone, Default)]
pub struct ErasureLedger {
    erased: BTreeSet<u64>,
    covered: Vec<(u64, u64)>,
}

impl ErasureLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next entry (already checked for order and hash). `false` when its
    /// personal fields do not match their commitment.
    pub fn push(&mut self, e: &AuditEntry) -> bool {
        if !e.personal_fields_match() {
            return false;
        }
        if e.is_erased() {
            self.erased.insert(e.seq);
        }
        if e.action == AuditAction::SubjectErasure.as_str() {
            let ranges = e
                .details
                .get(ERASED_SEQS_DETAIL)
                .and_then(|s| parse_ranges(s));
            // A receipt can only vouch for entries before it.
            for (lo, hi) in ranges.unwrap_or_default() {
                if hi < e.seq {
                    self.covered.push((lo, hi));
                }
            }
        }
        true
    }

    /// Entries whose personal fields were erased so far.
    pub fn erased(&self) -> u64 {
        self.erased.len() as u64
    }

    /// The first erased entry that no receipt covers, if any.
    pub fn first_uncovered(&self) -> Option<u64> {
        // Receipts may overlap (an erasure run twice): merge, then sweep both in order.
        let mut ranges = self.covered.clone();
        ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        let mut r = merged.into_iter().peekable();
        for &seq in &self.erased {
            while r.peek().is_some_and(|&(_, hi)| hi < seq) {
                r.next();
            }
            match r.peek() {
                Some(&(lo, _)) if lo <= seq => {}
                _ => return Some(seq),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_round_trip_and_refuse_what_they_never_write() {
        assert_eq!(format_ranges(&[1, 2, 3, 7, 9, 10]), "1-3,7,9-10");
        assert_eq!(format_ranges(&[]), "");
        assert_eq!(
            parse_ranges("1-3,7,9-10"),
            Some(vec![(1, 3), (7, 7), (9, 10)])
        );
        let mut l = ErasureLedger::new();
        l.erased.extend([2, 5, 6, 9]);
        l.covered.extend([(5, 9), (1, 2), (6, 6)]);
        assert_eq!(l.first_uncovered(), None);
        l.erased.insert(4);
        assert_eq!(l.first_uncovered(), Some(4));
        for bad in [
            "", "0", "01", "3-1", "1,1", "1-3,3", "1-3,4", "a", "1-", "-1", "1,,2",
        ] {
            assert_eq!(parse_ranges(bad), None, "{bad:?}");
        }
    }
}
