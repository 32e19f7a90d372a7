//! Given names and surnames compiled into the binary (cargo feature `names`).
//!
//! Derived from the person-name lists of the Faker project (MIT licence, locales en_US, en_GB,
//! de_DE, de_AT, de_CH, fr_FR, es_ES, it_IT, sl_SI): single-word entries only. Sources,
//! licence and sizes are in docs/PERSONAL_DATA.md; `data/` holds the lists as shipped.

/// One given name per line.
pub(super) const GIVEN: &str = include_str!("data/given.txt");
/// One surname per line.
pub(super) const SURNAMES: &str = include_str!("data/surnames.txt");
