//! Per-operator timing of a graph evaluation, for finding where a model's time goes.
//!
//! Set `GAUNTLET_OPS_PROFILE=1` and every forward pass prints, on standard error, the wall time
//! and the process's CPU time spent in each operator type (their ratio is how many cores
//! were busy); `GAUNTLET_OPS_PROFILE=nodes` adds the slowest nodes with their output shapes. The
//! CPU backend runs operations eagerly, so a node's time is its own. With
//! `RAYON_NUM_THREADS=1` the CPU time hardly depends on what else the machine runs, and a batch
//! of 32 samples or more, which runs as two halves (`gauntlet_core::model::by_halves`), prints
//! one profile per half, one after the other; with more threads the halves run at once and each
//! half's CPU time includes the other's. Unset, the cost is one cached flag read per node.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::graph::Node;
use crate::value::Value;

/// What `GAUNTLET_OPS_PROFILE` asks for.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Off,
    Operators,
    Nodes,
}

fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var("GAUNTLET_OPS_PROFILE").as_deref() {
        Ok("nodes") => Level::Nodes,
        Ok("1" | "operators") => Level::Operators,
        _ => Level::Off,
    })
}

/// CPU time used so far by every thread of the process.
fn cpu_time() -> Duration {
    #[cfg(unix)]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec, which `t` is.
        if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0 {
            return Duration::new(t.tv_sec as u64, t.tv_nsec as u32);
        }
    }
    Duration::ZERO
}

/// Wall-clock and CPU time.
#[derive(Clone, Copy, Default)]
struct Spent {
    wall: Duration,
    cpu: Duration,
}

/// A node's start: wall clock and CPU time.
pub struct Clock(Instant, Duration);

impl Clock {
    fn now() -> Self {
        Clock(Instant::now(), cpu_time())
    }

    fn elapsed(&self) -> Spent {
        Spent {
            wall: self.0.elapsed(),
            cpu: cpu_time().saturating_sub(self.1),
        }
    }
}

/// Time per operator type over one evaluation; inert unless profiling is on.
pub struct Profile {
    level: Level,
    started: Option<Clock>,
    /// Operator type → (nodes, time).
    by_op: HashMap<String, (usize, Spent)>,
    /// (time, node name, operator, output shape) of every node, when nodes are asked for.
    nodes: Vec<(Spent, String, String, Vec<usize>)>,
}

impl Profile {
    /// Starts a profile of one evaluation (inert unless `GAUNTLET_OPS_PROFILE` is set).
    pub fn start() -> Self {
        let level = level();
        Profile {
            level,
            started: (level != Level::Off).then(Clock::now),
            by_op: HashMap::new(),
            nodes: Vec::new(),
        }
    }

    /// The clock for one node, `None` when profiling is off.
    pub fn clock(&self) -> Option<Clock> {
        (self.level != Level::Off).then(Clock::now)
    }

    /// Books the time since `clock` to `node`, which returned `outputs`.
    pub fn record(&mut self, clock: Option<Clock>, node: &Node, outputs: &[Value]) {
        let Some(clock) = clock else { return };
        let spent = clock.elapsed();
        let entry = self.by_op.entry(node.op.clone()).or_default();
        entry.0 += 1;
        entry.1.wall += spent.wall;
        entry.1.cpu += spent.cpu;
        if self.level == Level::Nodes {
            let shape = outputs.first().map(Value::shape).unwrap_or_default();
            self.nodes
                .push((spent, node.name.clone(), node.op.clone(), shape));
        }
    }

    /// Prints the summary (when profiling is on).
    pub fn finish(mut self, label: &str) {
        let Some(started) = self.started.take() else {
            return;
        };
        let total = started.elapsed();
        let mut ops: Vec<_> = self.by_op.into_iter().collect();
        ops.sort_by_key(|op| std::cmp::Reverse(op.1 .1.cpu));
        eprintln!(
            "profile of '{label}': {:.1} ms wall, {:.1} ms CPU ({:.2} cores busy)",
            ms(total.wall),
            ms(total.cpu),
            total.cpu.as_secs_f64() / total.wall.as_secs_f64().max(1e-12)
        );
        eprintln!(
            "  {:<22} {:>5} {:>10} {:>10} {:>6}",
            "operator", "nodes", "wall ms", "CPU ms", "CPU %"
        );
        for (op, (count, spent)) in ops {
            eprintln!(
                "  {op:<22} {count:>5} {:>10.1} {:>10.1} {:>6.1}",
                ms(spent.wall),
                ms(spent.cpu),
                100.0 * spent.cpu.as_secs_f64() / total.cpu.as_secs_f64().max(1e-12)
            );
        }
        if self.level == Level::Nodes {
            self.nodes.sort_by_key(|node| std::cmp::Reverse(node.0.cpu));
            for (spent, name, op, shape) in self.nodes.iter().take(40) {
                eprintln!(
                    "  {:>8.2} ms CPU {:>8.2} ms wall  {op:<18} {shape:?}  {name}",
                    ms(spent.cpu),
                    ms(spent.wall)
                );
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
