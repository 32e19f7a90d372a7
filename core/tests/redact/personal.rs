//! Personal-data recognizers (issue 22): names, addresses, dates of birth, card security
//! codes and national ids in six languages; the organization's names and exempt words;
//! pseudonymization, restore and streaming restore of the new kinds; robustness.
// Test code: an unwrap that fails is a failed test, which is what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use proptest::prelude::*;
use tenantguard::redact::{EntityKind, Operation, PseudonymSession, RedactError, Redactor};
use tenantguard::TenantId;

fn tag(r: &Redactor, t: &str) -> String {
    r.redact(t, &Operation::Tag).unwrap().text
}

#[test]
fn six_languages() {
    let r = Redactor::new();
    let cases = [
        (
            "Dear Ms Hughes, thank you. Name: Rachel Hughes, born 12 March 1985, lives at 170 Cedar Avenue, Boston, MA 02110. NINO AB 12 34 56 C. Thanks, Rachel",
            "Dear Ms [NAME], thank you. Name: [NAME], born [DOB], lives at [ADDRESS]. NINO [NATIONAL_ID]. Thanks, [NAME]",
        ),
        (
            "Sehr geehrte Frau Müller, Jonas Weber wohnt in der Hauptstraße 12, 10115 Berlin, geboren am 12.03.1985, Steuer-ID 86 095 742 719.",
            "Sehr geehrte Frau [NAME], [NAME] wohnt in der [ADDRESS], geboren am [DOB], Steuer-ID [NATIONAL_ID].",
        ),
        (
            "Bonjour Madame Lefèvre, Chloé Martin habite au 12 bis rue de la République, 69001 Lyon, née le 3 février 1990, NIR 2 55 08 14 168 025 38.",
            "Bonjour Madame [NAME], [NAME] habite au [ADDRESS], née le [DOB], NIR [NATIONAL_ID].",
        ),
        (
            "Estimada Sra. García: Lucía Fernández vive en Calle de Alcalá 45, 2º B, 28014 Madrid, fecha de nacimiento: 12 de marzo de 1985, DNI 12345678Z, NIE X1234567L.",
            "Estimada Sra. [NAME]: [NAME] vive en [ADDRESS], fecha de nacimiento: [DOB], DNI [NATIONAL_ID], NIE [NATIONAL_ID].",
        ),
        (
            "Gentile sig.ra Rossi, Giulia Bianchi abita in Via Dante Alighieri 10/B, 00184 Roma, nata il 12/03/1985, codice fiscale RSSMRA85T10A562S.",
            "Gentile sig.ra [NAME], [NAME] abita in [ADDRESS], nata il [DOB], codice fiscale [NATIONAL_ID].",
        ),
        (
            "Spoštovana ga. Novak, Žiga Horvat živi na Slovenska cesta 50, 1000 Ljubljana, rojen 12. 3. 1985, EMŠO 0101006500006.",
            "Spoštovana ga. [NAME], [NAME] živi na [ADDRESS], rojen [DOB], EMŠO [NATIONAL_ID].",
        ),
        (
            "card 4111 1111 1111 1111, CVC 123, ticket 456, Prüfnummer 4821",
            "card [CARD], CVC [CVC], ticket 456, Prüfnummer [CVC]",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(tag(&r, input), want, "{input}");
    }
}

#[test]
fn look_alikes_stay() {
    let r = Redactor::new();
    for t in [
        "Invoice of 12.03.2024 for 3 rooms, ticket 123, order 86095742718.",
        "Please send it via DHL 3 times. Kapitel 5 of the Project Falcon plan.",
        "The French team meets on Monday; Ihre Kreditkarte wurde belastet.",
        "Zur Bestätigung: Ihr Geburtsdatum bitte.",
        "version 1.2.3, build 20240312, AB123456E, 12345678A",
    ] {
        assert_eq!(tag(&r, t), t);
    }
}

#[test]
fn organization_names_and_exempt_words() {
    let plain = Redactor::new();
    assert_eq!(tag(&plain, "ask Zorblax about it"), "ask Zorblax about it");
    assert_eq!(tag(&plain, "the Dana plan"), "the [NAME] plan");
    let own = Redactor::builder()
        .names(["Zorblax"])
        .exempt(["dana"])
        .build()
        .unwrap();
    assert_eq!(tag(&own, "ask Zorblax about it"), "ask [NAME] about it");
    assert_eq!(
        tag(&own, "the Dana plan for Emily Brown"),
        "the Dana plan for [NAME]"
    );
    for bad in [
        vec![" ".to_owned()],
        vec!["x".repeat(129)],
        vec!["a\u{0}b".to_owned()],
    ] {
        assert!(matches!(
            Redactor::builder().names(bad.clone()).build(),
            Err(RedactError::InvalidConfig(_))
        ));
        assert!(matches!(
            Redactor::builder().exempt(bad).build(),
            Err(RedactError::InvalidConfig(_))
        ));
    }
    assert!(Redactor::builder()
        .names(vec!["Anna".to_owned(); 10_001])
        .build()
        .is_err());
}

#[test]
fn kinds_can_be_turned_off() {
    let r = Redactor::builder()
        .disable(&EntityKind::PersonName)
        .build()
        .unwrap();
    assert_eq!(
        tag(&r, "Dear Ms Hughes, Rachel Hughes"),
        "Dear Ms Hughes, Rachel Hughes"
    );
    for k in [
        EntityKind::PersonName,
        EntityKind::Address,
        EntityKind::DateOfBirth,
        EntityKind::CardCvc,
        EntityKind::NationalId,
    ] {
        assert_eq!(EntityKind::from_tag(k.tag()), Some(k.clone()));
        assert_eq!(k.category(), tenantguard::redact::Category::Pii);
    }
}

#[test]
fn pseudonymize_restore_and_stream_across_chunks() {
    let r = Redactor::new();
    let s =
        PseudonymSession::new(&TenantId::new("acme").unwrap(), Duration::from_secs(60)).unwrap();
    let text = "Dear Ms Novak, Žiga Horvat lives at Slovenska cesta 50, 1000 Ljubljana, born 12. 3. 1985, EMŠO 0101006500006; Ms Novak again.";
    let out = r.redact(text, &Operation::Pseudonymize(&s)).unwrap();
    assert_eq!(
        out.text,
        "Dear Ms <NAME_1>, <NAME_2> lives at <ADDRESS_1>, born <DOB_1>, EMŠO <NATIONAL_ID_1>; Ms <NAME_1> again."
    );
    assert_eq!(s.restore(&out.text).unwrap(), text);
    // The model's answer streamed in small chunks that split placeholders anywhere.
    let answer = "Reply to <NAME_2> at <ADDRESS_1> (born <DOB_1>), id <NATIONAL_ID_1>.";
    let want = s.restore(answer).unwrap();
    for size in 1..8 {
        let mut st = s.stream();
        let mut got = String::new();
        let chars: Vec<char> = answer.chars().collect();
        for chunk in chars.chunks(size) {
            got.push_str(&st.push(&chunk.iter().collect::<String>()).unwrap());
        }
        got.push_str(&st.finish().unwrap());
        assert_eq!(got, want, "chunk size {size}");
    }
    assert!(want.contains("Žiga Horvat") && want.contains("1000 Ljubljana"));
}

const FRAGMENTS: &[&str] = &[
    "Dear ",
    "Ms ",
    "Herr ",
    "Name: ",
    "Thanks, ",
    "[10:02] ",
    "Žiga ",
    "Müller",
    "Anna ",
    "Šuštaršič ",
    "Hauptstraße ",
    "12",
    " 10115 ",
    "Berlin",
    "Via ",
    "rue ",
    "cesta ",
    "born ",
    "CVC ",
    "123",
    "1985",
    "12.03.",
    " 3. ",
    "März ",
    "de ",
    "86095742719",
    "AB 12 34 56 C",
    "X1234567L",
    "RSSMRA85T10A562S",
    "0101006500006",
    ", ",
    ". ",
    "\n",
    " ",
    "ü",
    "’",
    "-",
    "'",
    "€",
    "日本",
    "2A",
    "º ",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn findings_are_sound_and_pseudonyms_restore(parts in proptest::collection::vec(0..FRAGMENTS.len(), 0..40)) {
        let text: String = parts.iter().map(|&i| FRAGMENTS[i]).collect();
        let r = Redactor::builder().names(["Zorblax"]).exempt(["Hope"]).build().unwrap();
        let found = r.find(&text).unwrap();
        let mut last = 0;
        for f in &found {
            prop_assert!(f.start >= last && f.start < f.end && f.end <= text.len());
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            last = f.end;
        }
        let s = PseudonymSession::new(&TenantId::new("p").unwrap(), Duration::from_secs(60)).unwrap();
        let out = r.redact(&text, &Operation::Pseudonymize(&s)).unwrap();
        prop_assert_eq!(s.restore(&out.text).unwrap(), text);
    }
}
