//! Offline verification of an audit export bundle, an inclusion proof and a consistency
//! proof: the core's pure verifiers (`tenantguard::audit::export`), conversions only.
//! A tampered input raises `AuditTamperedError` (an `IntegrityError`) whose `reason` is
//! the core's `TamperReason::kind` (one of `AUDIT_TAMPER_REASONS`) and, when one entry is
//! to blame, `line`.

use pyo3::import_exception;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use tenantguard::audit::export::{self, ExportVerdict, TamperReason};
use tenantguard::audit::{AuditPublicKey, Checkpoint};

use crate::errors::{invalid, wrong_type};

import_exception!(tenantguard._errors, AuditTamperedError);

/// The argument's bytes: `bytes` as is, `str` as UTF-8.
fn bytes_of(ob: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = ob.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(s) = ob.cast::<PyString>() {
        return Ok(s.to_str()?.as_bytes().to_vec());
    }
    Err(wrong_type(format!("{what} must be bytes or str")))
}

/// One verifier key string, or a sequence of them.
fn keys_of(ob: &Bound<'_, PyAny>) -> PyResult<Vec<AuditPublicKey>> {
    let strings: Vec<String> = if let Ok(s) = ob.cast::<PyString>() {
        vec![s.to_str()?.to_owned()]
    } else {
        ob.extract()
            .map_err(|_| wrong_type("public_keys must be a str or a sequence of str"))?
    };
    if strings.is_empty() {
        return Err(invalid("public_keys is empty"));
    }
    strings
        .iter()
        .map(|k| AuditPublicKey::parse(k).map_err(|e| invalid(format!("public key {k:?}: {e}"))))
        .collect()
}

/// The exception for a tampered input: the core's reason name and the entry line.
fn tampered(reason: &TamperReason, line: Option<u64>) -> PyErr {
    let msg = match line {
        Some(l) => format!("audit export does not verify: {reason} (line {l})"),
        None => format!("audit export does not verify: {reason}"),
    };
    let err = AuditTamperedError::new_err(msg);
    Python::attach(|py| {
        let v = err.value(py);
        let _ = v.setattr("reason", reason.kind());
        let _ = v.setattr("line", line);
    });
    err
}

/// A signed audit checkpoint: the log `origin` had `size` entries with RFC 6962 root
/// `root` at `time` (Unix seconds).
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct AuditCheckpoint {
    origin: String,
    size: u64,
    root: Vec<u8>,
    time: i64,
}

impl From<Checkpoint> for AuditCheckpoint {
    fn from(c: Checkpoint) -> Self {
        AuditCheckpoint {
            origin: c.origin,
            size: c.size,
            root: c.root.to_vec(),
            time: c.time,
        }
    }
}

#[pymethods]
impl AuditCheckpoint {
    fn __repr__(&self) -> String {
        format!(
            "AuditCheckpoint(origin={:?}, size={}, time={})",
            self.origin, self.size, self.time
        )
    }
}

/// A database restore recorded in the log that explains why the earlier checkpoint is not
/// a prefix of the bundle: entries `restored_size + 1 ..= superseded_size` were lost.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct AuditRestore {
    restore_seq: u64,
    restore_time: i64,
    restored_size: u64,
    superseded_size: u64,
    superseded_root: Vec<u8>,
    earlier: Py<AuditCheckpoint>,
}

#[pymethods]
impl AuditRestore {
    fn __repr__(&self) -> String {
        format!(
            "AuditRestore(restore_seq={}, restored_size={}, superseded_size={})",
            self.restore_seq, self.restored_size, self.superseded_size
        )
    }
}

/// What a verified export bundle holds. `outcome` is `valid`, or `restored` when the
/// earlier checkpoint is of the lost window of a recorded restore (`restore` says which).
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct AuditBundleReport {
    tenant: Option<String>,
    entries: u64,
    legacy_entries: u64,
    erased_entries: u64,
    checkpoint: Py<AuditCheckpoint>,
    outcome: &'static str,
    restore: Option<Py<AuditRestore>>,
}

#[pymethods]
impl AuditBundleReport {
    fn __repr__(&self) -> String {
        format!(
            "AuditBundleReport(outcome={:?}, tenant={:?}, entries={}, legacy_entries={})",
            self.outcome, self.tenant, self.entries, self.legacy_entries
        )
    }
}

/// A verified inclusion proof: the entry and the checkpoint it is included in.
#[pyclass(module = "tenantguard", frozen, get_all)]
pub(crate) struct AuditInclusion {
    entry: Py<crate::gov::AuditEntry>,
    checkpoint: Py<AuditCheckpoint>,
}

#[pymethods]
impl AuditInclusion {
    fn __repr__(&self) -> String {
        let e = &self.entry.get().0;
        format!(
            "AuditInclusion(tenant={:?}, seq={}, checkpoint_size={})",
            e.tenant,
            e.seq,
            self.checkpoint.get().size
        )
    }
}

/// Verifies an audit export bundle offline against the checkpoint public key(s) and, when
/// kept, an earlier signed checkpoint. Raises `AuditTamperedError` with the reason.
#[pyfunction]
#[pyo3(signature = (bundle, public_keys, *, earlier_checkpoint=None))]
fn verify_audit_bundle(
    py: Python<'_>,
    bundle: &Bound<'_, PyAny>,
    public_keys: &Bound<'_, PyAny>,
    earlier_checkpoint: Option<&Bound<'_, PyAny>>,
) -> PyResult<AuditBundleReport> {
    let bundle = bytes_of(bundle, "bundle")?;
    let keys = keys_of(public_keys)?;
    let earlier = earlier_checkpoint
        .map(|e| bytes_of(e, "earlier_checkpoint"))
        .transpose()?;
    let verdict = crate::runtime::detach(py, || {
        export::verify_export(&bundle, &keys, earlier.as_deref())
    });
    let outcome = verdict.outcome();
    let (s, restore) = match verdict {
        ExportVerdict::Valid(s) => (s, None),
        ExportVerdict::Restored { summary, restore } => (summary, Some(restore)),
        ExportVerdict::Tampered { reason, line } => return Err(tampered(&reason, line)),
    };
    let restore = match restore {
        None => None,
        Some(r) => Some(Py::new(
            py,
            AuditRestore {
                restore_seq: r.restore_seq,
                restore_time: r.restore_time,
                restored_size: r.restored_size,
                superseded_size: r.superseded_size,
                superseded_root: r.superseded_root.to_vec(),
                earlier: Py::new(py, AuditCheckpoint::from(r.earlier))?,
            },
        )?),
    };
    Ok(AuditBundleReport {
        tenant: s.tenant,
        entries: s.entries,
        legacy_entries: s.legacy_entries,
        erased_entries: s.erased_entries,
        checkpoint: Py::new(py, AuditCheckpoint::from(s.checkpoint))?,
        outcome,
        restore,
    })
}

/// Verifies an inclusion proof offline ("this entry is in the signed log"). Raises
/// `AuditTamperedError` with the reason.
#[pyfunction]
fn verify_audit_inclusion(
    py: Python<'_>,
    proof: &Bound<'_, PyAny>,
    public_keys: &Bound<'_, PyAny>,
) -> PyResult<AuditInclusion> {
    let proof = bytes_of(proof, "proof")?;
    let keys = keys_of(public_keys)?;
    let (entry, cp) = crate::runtime::detach(py, || export::verify_inclusion_proof(&proof, &keys))
        .map_err(|r| tampered(&r, None))?;
    Ok(AuditInclusion {
        entry: Py::new(py, crate::gov::AuditEntry(entry))?,
        checkpoint: Py::new(py, AuditCheckpoint::from(cp))?,
    })
}

/// Verifies a consistency proof offline from the `earlier_checkpoint` the caller kept to
/// the newer checkpoint the proof carries; returns the newer checkpoint. Raises
/// `AuditTamperedError` (`fork`, `rollback`, ...).
#[pyfunction]
fn verify_audit_consistency(
    py: Python<'_>,
    earlier_checkpoint: &Bound<'_, PyAny>,
    proof: &Bound<'_, PyAny>,
    public_keys: &Bound<'_, PyAny>,
) -> PyResult<AuditCheckpoint> {
    let earlier = bytes_of(earlier_checkpoint, "earlier_checkpoint")?;
    let proof = bytes_of(proof, "proof")?;
    let keys = keys_of(public_keys)?;
    crate::runtime::detach(py, || {
        export::verify_consistency_proof(&earlier, &proof, &keys)
    })
    .map(AuditCheckpoint::from)
    .map_err(|r| tampered(&r, None))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<AuditCheckpoint>()?;
    m.add_class::<AuditBundleReport>()?;
    m.add_class::<AuditRestore>()?;
    m.add_class::<AuditInclusion>()?;
    m.add_function(wrap_pyfunction!(verify_audit_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(verify_audit_inclusion, m)?)?;
    m.add_function(wrap_pyfunction!(verify_audit_consistency, m)?)?;
    // The core's table, so Python never keeps a copy that can drift.
    m.add("AUDIT_TAMPER_REASONS", TamperReason::KINDS.to_vec())?;
    m.add("AUDIT_BUNDLE_OUTCOMES", ExportVerdict::OUTCOMES.to_vec())?;
    Ok(())
}
