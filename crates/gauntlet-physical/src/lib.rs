//! Physical-world attacks on image models: one patch — a sticker — optimized over many
//! pictures under random transformations (expectation over transformation), and judged on
//! held-out pictures against the same patch made without EOT and a random patch of its size.
//!
//! The flow: [`scene::Scene`] (pictures, labels, optional regions where a sticker may go) +
//! [`shape::Shape`] and size + [`eot::Eot`] → [`job::PatchJob`] (two [`optimize::PatchProblem`]s
//! and a [`evaluate::Judge`]) → [`job::PatchOutcome`] → [`report::write_patch_report`].

pub mod blur;
pub mod eot;
pub mod evaluate;
pub mod homography;
pub mod job;
pub mod optimize;
pub mod palette;
pub mod per_picture;
pub mod placement;
pub mod report;
pub mod scene;
pub mod shape;
pub mod smoothness;

pub use eot::Eot;
pub use job::{PatchJob, PatchOutcome, PatchSettings};
pub use placement::Canvas;
pub use scene::{Goal, Scene};
pub use shape::Shape;
