//! `fieldsync sim`: both simulators on loopback ports, for trying fieldsync by hand. Prints
//! their addresses and credentials and (with `--config`) writes a configuration pointing at
//! them; runs until Ctrl-C.

use super::{CmdError, private_file};
use crate::sim::SimPair;
use crate::sim::dataset::Plan;
use crate::sim::mautic::MauticSimOptions;
use crate::sim::weavy::WeavySimOptions;
use crate::sync::Shutdown;
use std::io::Write;
use std::path::PathBuf;

/// Run the weavy and Mautic simulators on loopback ports until stopped.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    #[arg(long, default_value_t = 0)]
    pub weavy_port: u16,
    #[arg(long, default_value_t = 0)]
    pub mautic_port: u16,
    /// Seed the simulators with the demo's data set.
    #[arg(long)]
    pub data: bool,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Write a configuration pointing at the simulators here.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Overwrite the file given to --config if it exists.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(args: &SimArgs) -> Result<(), CmdError> {
    if let Some(path) = &args.config
        && path.exists()
        && !args.force
    {
        return Err(CmdError::Usage(format!(
            "{} already exists: pass --force to overwrite it, or give --config another path",
            path.display()
        )));
    }
    let pair = SimPair::start_with(
        WeavySimOptions {
            seed: args.seed,
            port: args.weavy_port,
            ..Default::default()
        },
        MauticSimOptions {
            seed: args.seed + 1,
            port: args.mautic_port,
            ..Default::default()
        },
    )
    .await
    .map_err(|e| CmdError::Usage(format!("cannot start the simulators: {e}")))?;
    let plan = Plan::new(super::demo::spec(args.seed));
    if args.data {
        plan.load(&pair);
    }
    println!(
        "weavy simulator:  {}  (project DEMO, user api.fieldsync)",
        pair.weavy.url()
    );
    println!(
        "mautic simulator: {}  (OAuth2 client fieldsync-sim)",
        pair.mautic.url()
    );
    if let Some(path) = &args.config {
        let db = path.with_extension("db");
        let extra = if args.data {
            plan.person_fields_toml()
        } else {
            String::new()
        };
        let text = pair.config_toml(&db, &extra);
        private_file(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|source| CmdError::Output {
                path: path.clone(),
                source,
            })?;
        println!(
            "configuration written to {} (try: fieldsync check --config {0})",
            path.display()
        );
    }
    println!("Ctrl-C to stop");
    let shutdown = Shutdown::new();
    shutdown.on_signals(super::exit::stop_at_once);
    shutdown.requested().await;
    Ok(())
}
