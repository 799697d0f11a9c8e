//! Background jobs: internal snapshots (`snapshot-save`/`-load`/`-delete`) and waiting for jobs.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::client::QmpClient;
use crate::error::QmpError;
use crate::types::{JobInfo, JobStatus};

impl QmpClient {
    /// `query-jobs`: the background jobs, as QEMU returns them.
    pub async fn query_jobs(&self) -> Result<Value, QmpError> {
        self.execute("query-jobs", None).await
    }

    /// `query-jobs`, parsed.
    pub async fn list_jobs(&self) -> Result<Vec<JobInfo>, QmpError> {
        self.execute_as("query-jobs", None).await
    }

    /// `job-dismiss`: removes a concluded job.
    pub async fn job_dismiss(&self, id: &str) -> Result<(), QmpError> {
        self.execute_unit("job-dismiss", Some(json!({"id": id})))
            .await
    }

    /// `snapshot-save`: starts job `job_id` saving internal snapshot `tag` of `devices` (block
    /// node names), with the VM state stored on node `vmstate`. Follow with
    /// [`wait_job`](Self::wait_job).
    pub async fn snapshot_save(
        &self,
        job_id: &str,
        tag: &str,
        vmstate: &str,
        devices: &[&str],
    ) -> Result<(), QmpError> {
        self.vm_state_job("snapshot-save", job_id, tag, vmstate, devices)
            .await
    }

    /// `snapshot-load`: starts job `job_id` restoring internal snapshot `tag`; see
    /// [`snapshot_save`](Self::snapshot_save).
    pub async fn snapshot_load(
        &self,
        job_id: &str,
        tag: &str,
        vmstate: &str,
        devices: &[&str],
    ) -> Result<(), QmpError> {
        self.vm_state_job("snapshot-load", job_id, tag, vmstate, devices)
            .await
    }

    /// Starts `snapshot-save` or `snapshot-load` (the same arguments).
    async fn vm_state_job(
        &self,
        command: &str,
        job_id: &str,
        tag: &str,
        vmstate: &str,
        devices: &[&str],
    ) -> Result<(), QmpError> {
        let args = json!({"job-id": job_id, "tag": tag, "vmstate": vmstate, "devices": devices});
        self.execute_unit(command, Some(args)).await
    }

    /// `snapshot-delete`: starts job `job_id` deleting internal snapshot `tag` from `devices`.
    pub async fn snapshot_delete(
        &self,
        job_id: &str,
        tag: &str,
        devices: &[&str],
    ) -> Result<(), QmpError> {
        let args = json!({"job-id": job_id, "tag": tag, "devices": devices});
        self.execute_unit("snapshot-delete", Some(args)).await
    }

    /// Waits until job `job_id` concludes, dismisses it, and returns its error if it failed.
    ///
    /// Safe to call after the job was started, even if it already finished: it subscribes to
    /// `JOB_STATUS_CHANGE` first and then looks at `query-jobs`, so no transition is missed. The
    /// usual pattern is therefore simply:
    ///
    /// ```no_run
    /// # async fn demo(qmp: &maqet_qmp::QmpClient) -> Result<(), maqet_qmp::QmpError> {
    /// use std::time::Duration;
    /// qmp.snapshot_save("save-1", "before-upgrade", "disk0", &["disk0"]).await?;
    /// qmp.wait_job("save-1", Duration::from_secs(300)).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The job must not be auto-dismissed by someone else meanwhile ([`QmpError::JobNotFound`]).
    pub async fn wait_job(&self, job_id: &str, timeout: Duration) -> Result<(), QmpError> {
        tokio::time::timeout(timeout, self.wait_job_concluded(job_id))
            .await
            .map_err(|_| QmpError::JobTimeout {
                job_id: job_id.to_owned(),
                after: timeout,
            })?
    }

    async fn wait_job_concluded(&self, job_id: &str) -> Result<(), QmpError> {
        let mut events = self.events();
        loop {
            let jobs = self.list_jobs().await?;
            let Some(job) = jobs.into_iter().find(|job| job.id == job_id) else {
                return Err(QmpError::JobNotFound {
                    job_id: job_id.to_owned(),
                });
            };
            if job.status == JobStatus::Concluded {
                self.job_dismiss(job_id).await?;
                return match job.error {
                    Some(desc) => Err(QmpError::JobFailed {
                        job_id: job_id.to_owned(),
                        desc,
                    }),
                    None => Ok(()),
                };
            }
            // Wait for this job to conclude (or for lost events), then look again.
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    () = self.closed() => return Err(QmpError::Closed),
                };
                match event {
                    Ok(event)
                        if event.event == "JOB_STATUS_CHANGE" && event.data["id"] == job_id =>
                    {
                        if event.data["status"] == JobStatus::Concluded.as_str() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => return Err(QmpError::Closed),
                }
            }
        }
    }
}
