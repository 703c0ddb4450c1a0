//! Both simulators at once, with the configuration that points fieldsync at them: what
//! `demo`, the end-to-end tests and the benches start from.

use super::mautic::{MauticSim, MauticSimOptions};
use super::weavy::{WeavySim, WeavySimOptions};
use crate::config::Config;
use std::path::Path;

/// A weavy and a Mautic simulator on loopback ports.
#[derive(Debug)]
pub struct SimPair {
    pub weavy: WeavySim,
    pub mautic: MauticSim,
    weavy_options: WeavySimOptions,
    mautic_options: MauticSimOptions,
}

impl SimPair {
    /// Starts both, on any free ports.
    pub async fn start(seed: u64) -> std::io::Result<SimPair> {
        Self::start_with(
            WeavySimOptions {
                seed,
                ..Default::default()
            },
            MauticSimOptions {
                seed: seed.wrapping_add(1),
                ..Default::default()
            },
        )
        .await
    }

    pub async fn start_with(
        weavy: WeavySimOptions,
        mautic: MauticSimOptions,
    ) -> std::io::Result<SimPair> {
        Ok(SimPair {
            weavy: WeavySim::start(weavy.clone()).await?,
            mautic: MauticSim::start(mautic.clone()).await?,
            weavy_options: weavy,
            mautic_options: mautic,
        })
    }

    /// A configuration file for these simulators: their URLs and credentials, fast retries,
    /// the default mapping, and `extra` appended (more settings or mappings).
    pub fn config_toml(&self, store: &Path, extra: &str) -> String {
        let w = &self.weavy_options;
        let m = &self.mautic_options;
        format!(
            r#"# fieldsync configuration for the built-in simulators.
[weavy]
base_url = "{weavy_url}"
project_code = "{project}"
user = "{user}"
password = "{password}"
time_zone = "{tz}"

[weavy.http]
timeout = "5s"
base_backoff = "1ms"
max_backoff = "20ms"
max_attempts = 8
max_retry_wait = "5s"

[mautic]
base_url = "{mautic_url}"
auth = "oauth2"
client_id = "{client_id}"
client_secret = "{client_secret}"

[mautic.http]
timeout = "5s"
base_backoff = "1ms"
max_backoff = "20ms"
max_attempts = 8
max_retry_wait = "5s"

[store]
path = "{store}"
{extra}
"#,
            weavy_url = self.weavy.url(),
            project = w.project_code,
            user = w.user,
            password = w.password,
            tz = w.time_zone.name(),
            mautic_url = self.mautic.url(),
            client_id = m.client_id,
            client_secret = m.client_secret,
            store = store.display(),
        )
    }

    /// The configuration, parsed.
    pub fn config(&self, store: &Path, extra: &str) -> Config {
        Config::parse(&self.config_toml(store, extra)).expect("the simulators' config is valid")
    }
}
