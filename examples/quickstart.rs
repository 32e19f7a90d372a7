//! tenantguard quickstart: the embedded default (a local key file + SQLite), end to end.
//!
//! Run: `cargo run --release --example quickstart -p tenantguard-examples [DATA_DIR]`
//! (without DATA_DIR, a fresh folder under the system temp dir is used and removed at the end).

use tenantguard::{
    Credential, CredentialKind, ErrorKind, Guard, SealedValue, TenantContext, TenantId,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dir, temporary) = match std::env::args().nth(1) {
        Some(d) => (std::path::PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("tenantguard-quickstart-{}", std::process::id())),
            true,
        ),
    };
    // The service capability is handed out once, here: only code given `service` can act
    // for any tenant or read plaintext.
    let (guard, service) = Guard::embedded_with_service(&dir)?;
    println!(
        "1. Opened the embedded default in {}: keys.json (mode 0600) + tenantguard.db",
        dir.display()
    );

    // Server-side code holds the service role; user requests get contexts from a TenantResolver.
    let acme = TenantContext::service(
        TenantId::new(format!("acme-{}", std::process::id()))?,
        &service,
    );
    let globex = TenantContext::service(
        TenantId::new(format!("globex-{}", std::process::id()))?,
        &service,
    );
    for t in [&acme, &globex] {
        let key = guard.keys().create_tenant(t).await?;
        println!(
            "2. Created tenant {} with its own data key (key id {key}, stored only wrapped)",
            t.tenant()
        );
    }

    let creds = [
        (
            "acme-pw",
            Credential::password("correct horse battery staple"),
        ),
        ("acme-api", Credential::api_token("sk_live_51Hxyz")),
        (
            "acme-totp",
            Credential::totp_seed(b"12345678901234567890".to_vec()),
        ),
        (
            "acme-cookie",
            Credential::session_cookie("sid=8f14e45fceea167a"),
        ),
        ("acme-note", Credential::generic("vault combination 4-8-15")),
    ];
    for (id, c) in &creds {
        guard.records().put_credential(&acme, id, c).await?;
        println!(
            "3. Sealed and stored {:<14} as record {id:<12} -> {c:?}",
            c.kind().as_str()
        );
    }

    let opened = guard.records().open_credential(&acme, "acme-pw").await?;
    assert_eq!(opened.kind(), CredentialKind::Password);
    assert_eq!(opened.secret().expose(), b"correct horse battery staple");
    println!(
        "4. Opened acme-pw with the service role: {} bytes, kind {}",
        opened.secret().len(),
        opened.kind()
    );

    let sealed = guard
        .records()
        .seal(&acme, "users/42/api_key", b"sk_test_abc")
        .await?;
    let text = sealed.to_text();
    println!("5. Sealed a value for a text column: {text}");

    let new_key = guard.keys().rotate(&acme).await?;
    let old = SealedValue::parse(&text)?;
    guard
        .records()
        .open(&acme, "users/42/api_key", &old)
        .await?;
    let fresh = guard
        .records()
        .seal(&acme, "users/42/api_key", b"sk_test_abc")
        .await?;
    println!(
        "6. Rotated acme's key: new writes use key id {}, the old value (key id {}) still opens",
        fresh.key_id(),
        old.key_id()
    );
    assert_eq!(fresh.key_id(), new_key);

    let report = guard
        .keys()
        .reencrypt(&acme, old.key_id(), 100, |_| {})
        .await?;
    guard.keys().retire(&acme, old.key_id()).await?;
    println!(
        "7. Re-encrypted {} stored records to key {new_key} and retired key {}",
        report.moved,
        old.key_id()
    );

    let Err(err) = guard
        .records()
        .open(&globex, "users/42/api_key", &fresh)
        .await
    else {
        return Err("tenant isolation broken: globex opened acme's value".into());
    };
    println!(
        "8. The same value opened as tenant {} is refused: [{}] {err}",
        globex.tenant(),
        err.kind()
    );
    // Record ids are per tenant: acme's id simply does not exist in globex.
    let Err(err) = guard.records().open_credential(&globex, "acme-pw").await else {
        return Err("tenant isolation broken: globex read acme's record".into());
    };
    assert_eq!(err.kind(), ErrorKind::NotFound);
    println!(
        "   and acme's stored record asked for with globex's context: [{}] {err}",
        err.kind()
    );

    guard.keys().shred(&acme).await?;
    let Err(err) = guard.records().open_credential(&acme, "acme-api").await else {
        return Err("a shredded tenant's value still opened".into());
    };
    assert_eq!(err.kind(), ErrorKind::KeyDestroyed);
    println!(
        "9. Shredded tenant {}: every value is gone for good: [{}] {err}",
        acme.tenant(),
        err.kind()
    );

    if temporary {
        std::fs::remove_dir_all(&dir)?;
    }
    println!("Done.");
    Ok(())
}
