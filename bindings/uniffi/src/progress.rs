//! Progress of the long jobs (re-encryption, KEK re-wrap, retention sweeps) reported to
//! Kotlin or Swift, which can stop a job by returning `false`.

use std::sync::Arc;

use crate::error::{HostError, TenantguardError};
use crate::governance::{SweepAllReport, SweepReport};
use crate::guard::Guard;
use crate::runtime::{block_on_in, CallId};
use crate::types::{key_id, tenant_id, ReencryptReport, RewrapReport, ServiceRole, TenantContext};

/// One step of a long job: the running report after a batch (or, for `SweepAll`, a tenant).
#[derive(uniffi::Enum, Clone, Debug)]
pub enum JobStep {
    /// `Guard.reencryptWithProgress`.
    Reencrypt {
        /// The running report.
        report: ReencryptReport,
    },
    /// `Guard.rewrapTenantKeysWithProgress`.
    Rewrap {
        /// The running report.
        report: RewrapReport,
    },
    /// `Guard.sweepWithProgress`.
    Sweep {
        /// The running report.
        report: SweepReport,
    },
    /// `Guard.sweepAllWithProgress`.
    SweepAll {
        /// The running report.
        report: SweepAllReport,
    },
}

/// Called after each step of a long job, implemented in Kotlin or Swift. Return `true` to
/// go on, `false` to stop after this step (the job returns its report so far, with
/// `stopped` set; every job is resumable). Must not call back into the `Guard`.
#[uniffi::export(with_foreign)]
pub trait JobProgress: Send + Sync {
    /// Whether the job goes on. An exception it throws does not stop the job: it is not
    /// called again, and the job's call throws `TenantguardException.Other` once it ends.
    fn on_step(&self, step: JobStep) -> Result<bool, HostError>;
}

/// Calls `progress` unless it failed before; a failure is kept in `failed` and the job goes
/// on (like the Python binding: a throwing callback never panics or hides the outcome).
fn step(progress: &dyn JobProgress, failed: &mut Option<HostError>, step: JobStep) -> bool {
    if failed.is_some() {
        return true;
    }
    match progress.on_step(step) {
        Ok(go_on) => go_on,
        Err(e) => {
            *failed = Some(e);
            true
        }
    }
}

/// The job's report, or the progress callback's failure once the job has ended.
fn done<T>(r: T, failed: Option<HostError>) -> Result<T, TenantguardError> {
    match failed {
        None => Ok(r),
        Some(e) => Err(TenantguardError::Other {
            // The first line: what was thrown, without the foreign stack trace.
            message: format!(
                "the progress callback failed (the job ran to its end): {}",
                e.to_string().lines().next().unwrap_or_default()
            ),
            reason: None,
        }),
    }
}

#[uniffi::export]
impl Guard {
    /// `reencrypt`, reporting each batch to `progress`, which can stop the job.
    pub fn reencrypt_with_progress(
        &self,
        ctx: Arc<TenantContext>,
        from_key_id: u32,
        batch_size: u32,
        progress: Arc<dyn JobProgress>,
    ) -> Result<ReencryptReport, TenantguardError> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            let mut failed = None;
            let r = g
                .keys()
                .reencrypt(&ctx.0, key_id(from_key_id)?, batch_size as usize, |r| {
                    step(
                        &*progress,
                        &mut failed,
                        JobStep::Reencrypt {
                            report: r.clone().into(),
                        },
                    )
                })
                .await?;
            done(r.into(), failed)
        })
    }

    /// `rewrapTenantKeys`, reporting each batch of tenants to `progress`, which can stop it.
    pub fn rewrap_tenant_keys_with_progress(
        &self,
        service: Arc<ServiceRole>,
        start_after: Option<String>,
        batch_size: u32,
        progress: Arc<dyn JobProgress>,
    ) -> Result<RewrapReport, TenantguardError> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            let mut failed = None;
            let r = g
                .keys()
                .rewrap(
                    &service.0,
                    start_after.map(tenant_id).transpose()?,
                    batch_size as usize,
                    |r| {
                        step(
                            &*progress,
                            &mut failed,
                            JobStep::Rewrap {
                                report: r.clone().into(),
                            },
                        )
                    },
                )
                .await?;
            done(r.into(), failed)
        })
    }

    /// `sweep`, reporting each batch to `progress`, which can stop it (what was deleted
    /// is still audited).
    pub fn sweep_with_progress(
        &self,
        ctx: Arc<TenantContext>,
        batch: u32,
        progress: Arc<dyn JobProgress>,
    ) -> Result<SweepReport, TenantguardError> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            let mut failed = None;
            let r = g
                .retention()
                .sweep(&ctx.0, batch as usize, |r| {
                    step(
                        &*progress,
                        &mut failed,
                        JobStep::Sweep {
                            report: r.clone().into(),
                        },
                    )
                })
                .await?;
            done(r.into(), failed)
        })
    }

    /// `sweepAll`, reporting each tenant to `progress`, which can stop it.
    pub fn sweep_all_with_progress(
        &self,
        service: Arc<ServiceRole>,
        start_after: Option<String>,
        batch: u32,
        progress: Arc<dyn JobProgress>,
    ) -> Result<SweepAllReport, TenantguardError> {
        let g = &self.0;
        block_on_in(self.call_id(), async move {
            let mut failed = None;
            let r = g
                .retention()
                .sweep_all_with_progress(
                    &service.0,
                    start_after.map(tenant_id).transpose()?,
                    batch as usize,
                    |r| {
                        step(
                            &*progress,
                            &mut failed,
                            JobStep::SweepAll {
                                report: r.clone().into(),
                            },
                        )
                    },
                )
                .await?;
            done(r.into(), failed)
        })
    }
}
