//! Fixed word lists (lower case) in English, German, French, Spanish, Italian and Slovenian:
//! context cues for names, street types, month names and words that are never names.

use std::sync::OnceLock;

/// A title before a name: `Mr`, `Frau`, `Mme`, `Sra`, `sig.ra`, `ga`.
pub(super) const TITLE: u16 = 1;
/// A greeting before a name: `Dear`, `Hallo`, `Bonjour`.
pub(super) const GREET: u16 = 2;
/// A field label or role word before a name: `Name:`, `Kunde`, `cliente`, `From:`.
pub(super) const LABEL: u16 = 4;
/// The end of a sign-off before a signature: `Regards,`, `Grüße`, `Cordialement,`.
pub(super) const SIGNOFF: u16 = 8;
/// A capitalized word that is never part of a name (street types, generic roles, weekdays).
pub(super) const NONNAME: u16 = 16;
/// A street type written before the street's name: `rue`, `Via`, `Calle`, `Trg`.
pub(super) const STREET_PRE: u16 = 32;
/// A street type written after the street's name: `Street`, `Straße`, `cesta`.
pub(super) const STREET_POST: u16 = 64;
/// A month name.
pub(super) const MONTH: u16 = 128;
/// A lower-case particle inside names and street names: `de`, `van`, `della`.
pub(super) const PARTICLE: u16 = 256;
/// A word after which a name follows: `under` (the account is under ...), `auf`, `ime`.
pub(super) const NAMEPREP: u16 = 512;
/// A given name in the gazetteer that is more often an ordinary word (`Will`, `Mark`,
/// `Paris`): a name only next to another name word or after a cue.
pub(super) const AMBIGUOUS: u16 = 1024;

const LISTS: &[(u16, &str)] = &[
    (TITLE, "mr mrs ms miss mx dr prof sir herr herrn frau fräulein m mme mlle monsieur madame mademoiselle sr sra srta señor señora señorita don doña dña sig sig.ra sig.na signor signora signorina dott dott.ssa ing avv g ga gdč gospod gospa gospodična gospe gospoda"),
    (GREET, "dear hi hello hey dearest liebe lieber hallo moin servus geehrte geehrter bonjour bonsoir salut cher chère hola estimado estimada querido querida apreciado apreciada gentile gentilissimo gentilissima caro cara ciao salve spoštovani spoštovana spoštovanemu draga dragi živjo zdravo pozdravljeni"),
    (LABEL, "name full-name fullname customer client contact applicant patient employee holder cardholder sender from to cc attn signed von an kunde kundin antragsteller antragstellerin vorname nachname ansprechpartner ansprechpartnerin empfänger absender nom prénom titulaire destinataire expéditeur nombre apellido apellidos cliente titular remitente destinatario para nome cognome intestatario mittente referente ime priimek stranka pošiljatelj prejemnik od za imetnik kontakt contatto contacto"),
    (SIGNOFF, "thanks thank regards cheers best sincerely wishes yours danke dank gruß grüße grüßen gruss grüsse merci cordialement vous amitiés bises gracias saludos saludo atentamente abrazos grazie saluti cordialità hvala lp pozdrav pozdravi"),
    (NONNAME, "english french german spanish italian slovenian slovene englisch französisch deutsch spanisch italienisch slowenisch anglais français allemand espagnol italien slovène inglés francés alemán español italiano esloveno inglese francese tedesco spagnolo sloveno angleščino francoščino nemščino angleščina ihr ihre ihren ihrem ihrer sie ich wir der die das den dem des ein eine einen zur zum im am vom beim bei mit und für auf bitte danke mein meine unser unsere euer eure dein deine kein keine le la les un une mon ma mes votre vos notre nos nous je il elle ils elles merci el los las una mi mis su sus nuestro nuestra gracias lo gli il mio mia suo sua vostro vostra nostro nostra grazie moj moja vaš vaša naš naša hvala prosim i'm i'll i've i'd i’m i’ll i’ve i’d project projekt projet proyecto progetto projekt product plan account order ticket invoice department office university hospital school airport hotel station museum park lake river mount team support customer client service services sales admin administrator agent operator bot system user everyone all there friends colleagues sir madam madame monsieur herr frau kunde kundin kunden kundenservice équipe service cliente clientes equipo soporte servizio clienti assistenza ekipa podpora stranka uporabnik inc ltd llc gmbh ag sa sas sarl srl spa plc co corp company bank group cloud logistics solutions systems software labs studio partners holding consulting monday tuesday wednesday thursday friday saturday sunday montag dienstag mittwoch donnerstag freitag samstag sonntag lundi mardi mercredi jeudi vendredi samedi dimanche lunes martes miércoles jueves viernes sábado domingo lunedì martedì mercoledì giovedì venerdì sabato domenica ponedeljek torek sreda četrtek petek sobota nedelja i we you he she they it the this that these our your please thanks hi hello dear north south east west new city street road avenue lane drive"),
    (STREET_PRE, "rue avenue av boulevard bd place impasse allée chemin quai route cours square calle c/ avenida avda paseo plaza pza camino carretera ronda travesía via viale piazza piazzale corso largo vicolo strada contrada lungomare trg ulica cesta pot nabrežje"),
    (STREET_POST, "street st road rd lane ln avenue ave drive dr boulevard blvd court ct way place pl close crescent terrace square sq parkway pkwy row mews gardens grove hill walk straße strasse str weg platz allee gasse ring damm ufer chaussee steig pfad markt cesta ulica pot trg nabrežje"),
    (MONTH, "january february march april may june july august september october november december jan feb mar apr jun jul aug sep sept oct nov dec januar februar märz mai juni juli oktober dezember janvier février mars avril juin juillet août septembre octobre novembre décembre enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre januarja februarja marca aprila maja junija julija avgusta septembra oktobra novembra decembra januar februar marec april maj junij julij avgust oktober"),
    (PARTICLE, "de del della delle dei degli di da dal van von der den ten ter le la du des dos das do y e bin al el van't zu v na pri ob"),
    (NAMEPREP, "under auf ime intestato intestata intestati nom nombre named called heiße appelle llamo chiamo"),
    (AMBIGUOUS, "will mark may june april august grace hope faith joy rose lily bill pat sue rich art chance page guy holly iris ivy jade ruby summer sky star angel paris florence chase reed wade don sunny dawn paz luz cruz rocío nieves amparo consuelo sol roma milano leone fortuna felice zlata vesna zora jasna mira vida nada data via christ heide"),
];

/// Passes a 64-bit hash through as its own hash.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub(crate) type HashKeyed<V> =
    std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// One table for every word the recognizers look up, keyed by a 64-bit hash of the
/// lower-cased word ([`hash_lower`]; no key comparison, no second hash): the classes above
/// in the low 16 bits, the gazetteer's given-name and surname bits (see `names`) above them.
/// With about 9,500 words, a false match of some other word has a probability near 2^-50
/// (and would only make a word count as a name or a cue).
pub(super) fn table() -> &'static HashKeyed<u32> {
    &tables().0
}

/// The word table and its Bloom filter, built together once (one `OnceLock` read per lookup).
fn tables() -> &'static (HashKeyed<u32>, Vec<u64>) {
    static T: OnceLock<(HashKeyed<u32>, Vec<u64>)> = OnceLock::new();
    T.get_or_init(|| {
        let mut m: HashKeyed<u32> = HashKeyed::default();
        for (bit, list) in LISTS {
            for w in list.split_ascii_whitespace() {
                *m.entry(hash_lower(w)).or_default() |= u32::from(*bit);
            }
        }
        super::names::add_gazetteer(&mut m);
        let mut bloom = vec![0u64; BLOOM_BITS / 64];
        for &k in m.keys() {
            let (a, b) = bloom_bits(k);
            bloom[a / 64] |= 1 << (a % 64);
            bloom[b / 64] |= 1 << (b % 64);
        }
        (m, bloom)
    })
}

/// Hash of the lower-cased `w`, without building a lower-cased string for words of up to
/// 64 bytes. The scan hashes every capitalized word, so this is on the hot path: ASCII is
/// lower-cased and mixed eight bytes at a time (a per-byte FNV-1a chain cost as much as the
/// rest of the name check).
pub(super) fn hash_lower(w: &str) -> u64 {
    let b = w.as_bytes();
    if b.is_ascii() {
        let mut h = start(b.len());
        let mut chunks = b.chunks_exact(8);
        for c in &mut chunks {
            let mut x = [0u8; 8];
            x.copy_from_slice(c);
            h = fold(h ^ lower8(u64::from_le_bytes(x)), K1);
        }
        let r = chunks.remainder();
        if !r.is_empty() {
            h = fold(h ^ lower8(tail(r)), K1);
        }
        return fold(h ^ K0, K1);
    }
    let mut buf = [0u8; STACK_WORD];
    let mut n = 0;
    let mut enc = [0u8; 4];
    for c in w.chars().flat_map(char::to_lowercase) {
        let e = c.encode_utf8(&mut enc).as_bytes();
        if n + e.len() > STACK_WORD {
            let long: String = w.chars().flat_map(char::to_lowercase).collect();
            return hash_bytes(long.as_bytes());
        }
        buf[n..n + e.len()].copy_from_slice(e);
        n += e.len();
    }
    hash_bytes(&buf[..n])
}

/// [`hash_lower`] of an ASCII word of `len` (1 to 8) bytes given already lower-cased as
/// the little-endian bytes of `x` (zero above `len`): the scan builds `x` while it reads the
/// word.
#[inline]
pub(super) fn hash_lower_short(len: usize, x: u64) -> u64 {
    fold(fold(start(len) ^ x, K1) ^ K0, K1)
}

/// Longest non-ASCII word lower-cased on the stack before hashing.
const STACK_WORD: usize = 64;
const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const ONES: u64 = 0x0101_0101_0101_0101;

/// Eight ASCII bytes with `A-Z` turned into `a-z` (bytes below 0x80 cannot carry).
fn lower8(x: u64) -> u64 {
    let ge_a = x + ONES * (0x80 - u64::from(b'A'));
    let gt_z = x + ONES * (0x80 - u64::from(b'Z') - 1);
    let upper = ge_a & !gt_z & (ONES * 0x80);
    x | (upper >> 2)
}

/// Up to seven bytes as the low bytes of a word (no call to `memcpy` for a short copy).
fn tail(r: &[u8]) -> u64 {
    r.iter()
        .enumerate()
        .fold(0, |a, (i, &c)| a | u64::from(c) << (8 * i))
}

/// The 64-bit multiply folded into its high half: the mixing step of wyhash-style hashes.
fn fold(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// The length goes in first, so zero padding of the last chunk cannot collide.
fn start(len: usize) -> u64 {
    fold(len as u64 ^ K0, K1)
}

/// The same hash over bytes already lower-cased (the non-ASCII path).
fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = start(b.len());
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut x = [0u8; 8];
        x.copy_from_slice(c);
        h = fold(h ^ u64::from_le_bytes(x), K1);
    }
    let r = chunks.remainder();
    if !r.is_empty() {
        h = fold(h ^ tail(r), K1);
    }
    fold(h ^ K0, K1)
}

/// Bits of the Bloom filter in front of [`table`]: 16 KiB, so it stays in the L1/L2 cache
/// while the table (a few hundred KiB) does not. Most capitalized words of prose are in no
/// list; the filter answers for them without touching the table.
const BLOOM_BITS: usize = 1 << 17;

fn bloom_bits(h: u64) -> (usize, usize) {
    (
        (h as usize) & (BLOOM_BITS - 1),
        ((h >> 32) as usize) & (BLOOM_BITS - 1),
    )
}

/// Classes and gazetteer bits of the word with hash `h` (see [`hash_lower`]); 0 if none.
#[inline]
pub(super) fn lookup_hash(h: u64) -> u32 {
    let (m, f) = tables();
    let (a, b) = bloom_bits(h);
    if f[a / 64] & (1 << (a % 64)) == 0 || f[b / 64] & (1 << (b % 64)) == 0 {
        return 0;
    }
    m.get(&h).copied().unwrap_or(0)
}

/// Classes and gazetteer bits of a word, any case (0 if none).
pub(super) fn lookup(w: &str) -> u32 {
    lookup_hash(hash_lower(w))
}

/// The classes of a word, any case (0 if none).
pub(super) fn class(w: &str) -> u16 {
    (lookup(w) & 0xffff) as u16
}

/// Bytes of the Bloom filter.
pub(super) const BLOOM_BYTES: usize = BLOOM_BITS / 8;

/// German compound street names: `Hauptstraße`, `Lindenweg`, `Bahnhofstr` (any case).
pub(super) fn is_compound_street(w: &str) -> bool {
    const SUFFIXES: &[&str] = &[
        "straße", "strasse", "str", "weg", "platz", "allee", "gasse", "damm", "ufer", "chaussee",
        "steig", "pfad", "ring",
    ];
    let b = w.as_bytes();
    SUFFIXES.iter().any(|s| {
        b.len() >= s.len() + 3 && b[b.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
    })
}

#[cfg(test)]
mod hash_tests {
    use super::*;

    #[test]
    fn ascii_and_unicode_paths_agree_and_ignore_case() {
        for w in [
            "a",
            "Anna",
            "MÜLLER",
            "Müller",
            "o'neil-smith",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{",
        ] {
            let lower: String = w.chars().flat_map(char::to_lowercase).collect();
            assert_eq!(hash_lower(w), hash_bytes(lower.as_bytes()), "{w}");
            assert_eq!(hash_lower(w), hash_lower(&w.to_uppercase()), "{w}");
        }
        for w in ["a", "Ab", "Anna", "Novak", "PLEASE", "Kowalsk", "Kowalski"] {
            let x = w.bytes().enumerate().fold(0u64, |a, (i, c)| {
                a | u64::from(c.to_ascii_lowercase()) << (8 * i)
            });
            assert_eq!(hash_lower_short(w.len(), x), hash_lower(w), "{w}");
        }
        assert_ne!(hash_lower("a"), hash_lower("a\0"));
        assert_ne!(hash_lower("ab"), hash_lower("ba"));
        let long = "Ä".repeat(40);
        assert_eq!(hash_lower(&long), hash_lower(&long.to_lowercase()));
    }
}
