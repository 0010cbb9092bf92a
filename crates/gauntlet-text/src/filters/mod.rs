//! Built-in spam filters trained in Rust, and the external-command and HTTP targets.

pub mod external;
pub mod http;
pub mod logistic;
pub mod naive_bayes;
mod shared;
pub mod spambayes;

pub use external::{ExternalCommand, ExternalOptions};
pub use http::{HttpFilter, HttpFilterOptions, TextRequestTemplate};
pub use logistic::{LogisticOptions, LogisticRegression};
pub use naive_bayes::NaiveBayes;
pub use spambayes::SpamBayes;
