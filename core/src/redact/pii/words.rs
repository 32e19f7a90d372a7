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

/// One table for every word the recognizers look up, keyed by the 64-bit FNV-1a hash of the
/// lower-cased word (no key comparison, no second hash): the classes above in the low 16
/// bits, the gazetteer's given-name and surname bits (see `names`) above them. With about
/// 9,500 words, a false match of some other word has a probability near 2^-50.
pub(super) fn table() -> &'static HashKeyed<u32> {
    static W: OnceLock<HashKeyed<u32>> = OnceLock::new();
    W.get_or_init(|| {
        let mut m: HashKeyed<u32> = HashKeyed::default();
        for (bit, list) in LISTS {
            for w in list.split_ascii_whitespace() {
                *m.entry(hash_lower(w)).or_default() |= u32::from(*bit);
            }
        }
        super::names::add_gazetteer(&mut m);
        m
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of the lower-cased `w`, without building the lower-cased string.
pub(super) fn hash_lower(w: &str) -> u64 {
    let mut h = FNV_OFFSET;
    let b = w.as_bytes();
    if w.is_ascii() {
        for &c in b {
            h ^= u64::from(c.to_ascii_lowercase());
            h = h.wrapping_mul(FNV_PRIME);
        }
        return h;
    }
    let mut enc = [0u8; 4];
    for c in w.chars().flat_map(char::to_lowercase) {
        for &x in c.encode_utf8(&mut enc).as_bytes() {
            h ^= u64::from(x);
            h = h.wrapping_mul(FNV_PRIME);
        }
    }
    h
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

fn bloom() -> &'static [u64] {
    static B: OnceLock<Vec<u64>> = OnceLock::new();
    B.get_or_init(|| {
        let mut v = vec![0u64; BLOOM_BITS / 64];
        for &k in table().keys() {
            let (a, b) = bloom_bits(k);
            v[a / 64] |= 1 << (a % 64);
            v[b / 64] |= 1 << (b % 64);
        }
        v
    })
}

/// Classes and gazetteer bits of the word with hash `h` (see [`hash_lower`]); 0 if none.
pub(super) fn lookup_hash(h: u64) -> u32 {
    let (a, b) = bloom_bits(h);
    let f = bloom();
    if f[a / 64] & (1 << (a % 64)) == 0 || f[b / 64] & (1 << (b % 64)) == 0 {
        return 0;
    }
    table().get(&h).copied().unwrap_or(0)
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

/// Words that are given names in the gazetteer but more often ordinary words; taken as a name
/// only next to another name word or after a cue.
pub(super) fn ambiguous(lc: &str) -> bool {
    const W: &[&str] = &[
        "will", "mark", "may", "june", "april", "august", "grace", "hope", "faith", "joy", "rose",
        "lily", "bill", "pat", "sue", "rich", "art", "chance", "page", "guy", "holly", "iris",
        "ivy", "jade", "ruby", "summer", "sky", "star", "angel", "paris", "florence", "chase",
        "reed", "wade", "don", "sunny", "dawn", "paz", "luz", "cruz", "rocío", "nieves", "amparo",
        "consuelo", "sol", "roma", "milano", "leone", "fortuna", "felice", "zlata", "vesna",
        "zora", "jasna", "mira", "vida", "nada", "data", "via", "christ", "heide",
    ];
    W.contains(&lc)
}
