//! `gauntlet serve`: an ONNX classifier behind a local HTTP prediction endpoint — to try
//! black-box audits (`audit --target`) on a model you have, or to give a model to a tool that
//! only speaks HTTP.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;

use gauntlet_core::model::Classifier;

use gauntlet_audit::{List, OnnxOptions};

use crate::audit::with_flag_names;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The ONNX classifier to serve.
    #[arg(long)]
    pub model: PathBuf,
    /// Port to listen on (0 lets the system pick a free one; the line on stdout names it).
    #[arg(long)]
    pub port: u16,
    /// Address to listen on; 0.0.0.0 accepts connections from other machines.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Answer labels only, never scores (a decision-based target).
    #[arg(long)]
    pub labels_only: bool,
    /// Per-sample input shape, when the ONNX file does not declare it (e.g. 3,32,32).
    #[arg(long)]
    pub input_shape: Option<String>,
    /// Per-channel mean the model expects, applied inside the model (e.g. 0.485,0.456,0.406).
    #[arg(long)]
    pub mean: Option<String>,
    /// Per-channel std the model expects, applied inside the model.
    #[arg(long)]
    pub std: Option<String>,
    /// The ONNX output holding the class scores [the only float N×classes output].
    #[arg(long)]
    pub output: Option<String>,
}

/// Serves until the process is interrupted (Ctrl-C).
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let list = |text: &Option<String>| text.as_deref().map(List::from);
    let options = OnnxOptions::from_lists(
        list(&args.input_shape).as_ref(),
        list(&args.mean).as_ref(),
        list(&args.std).as_ref(),
    )
    .map_err(with_flag_names)?;
    let options = OnnxOptions {
        output: args.output.clone(),
        ..options
    };
    let model = options.load(&args.model)?;
    let addr: SocketAddr = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .with_context(|| {
            format!(
                "cannot listen on '{}'; give --host as an IP address such as 127.0.0.1 or 0.0.0.0",
                args.host
            )
        })?;
    let shape = model.sample_shape().to_vec();
    let features = model.features();
    let answers = if args.labels_only {
        "labels only"
    } else {
        "scores"
    };
    gauntlet_remote::serve(Arc::new(model), addr, args.labels_only, |bound| {
        // The first line on stdout is the contract for scripts: it names the bound port.
        println!("listening on http://{bound} ({answers})");
        let _ = std::io::stdout().flush();
        eprintln!(
            "POST /predict with {{\"inputs\": [...]}} (n × {} or n × {features}); GET /health; Ctrl-C stops",
            shape.iter().map(usize::to_string).collect::<Vec<_>>().join("×")
        );
    })?;
    Ok(ExitCode::SUCCESS)
}
