//! Reverse-mode autograd. Each differentiable op records one `Node` holding
//! its backward closure (written next to the forward in `ops/`, micrograd
//! style) and one `Edge` per input pointing where that input's gradient goes.
//! Nodes reference their inputs' nodes, never the input tensors themselves,
//! so intermediate activations die as soon as nothing needs them.

pub mod engine;

pub use engine::{backward, grad};

use crate::error::Result;
use crate::tensor::{lock, Storage, Tensor, TensorImpl};
use std::cell::Cell;
use std::sync::{Arc, Mutex, Weak};

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Sets grad mode for this thread and returns the previous value.
pub fn set_grad_enabled(flag: bool) -> bool {
    GRAD_ENABLED.with(|g| g.replace(flag))
}

/// Restores the previous grad mode when dropped.
pub struct GradModeGuard(bool);
impl GradModeGuard {
    pub fn new(enabled: bool) -> Self {
        GradModeGuard(set_grad_enabled(enabled))
    }
}
impl Drop for GradModeGuard {
    fn drop(&mut self) {
        set_grad_enabled(self.0);
    }
}

/// Given the gradient of the node's output, returns one gradient per input
/// (None where the input needs none).
pub type BackwardFn = Box<dyn FnMut(&Tensor) -> Result<Vec<Option<Tensor>>> + Send>;

pub enum Edge {
    /// The input needs no gradient.
    None,
    /// The input was produced by another recorded op.
    Node(Arc<Node>),
    /// The input is a leaf that requires grad: accumulate into its `.grad`.
    Leaf(Tensor),
}

struct SavedVersion {
    storage: Storage,
    version: u64,
    index: usize,
}

pub struct Node {
    pub name: String,
    pub(crate) edges: Vec<Edge>,
    backward: Mutex<Option<BackwardFn>>,
    saved: Vec<SavedVersion>,
    retained: Mutex<Vec<Weak<TensorImpl>>>,
    pub(crate) out_shape: Vec<usize>,
}

impl Node {
    pub(crate) fn retain(&self, t: &Tensor) {
        lock(&self.retained).push(Arc::downgrade(&t.0));
    }
    pub fn num_inputs(&self) -> usize {
        self.edges.len()
    }
}

/// True when an op on these inputs must record a node.
#[inline]
pub fn needs_grad(inputs: &[&Tensor]) -> bool {
    is_grad_enabled() && inputs.iter().any(|t| t.requires_grad())
}

pub(crate) fn edge_for(t: &Tensor) -> Edge {
    if !t.requires_grad() {
        return Edge::None;
    }
    match t.grad_fn() {
        Some(n) => Edge::Node(n),
        None => Edge::Leaf(t.clone()),
    }
}

/// Attaches a backward node to `out`. `saved` are the tensors the closure
/// captured: their versions are checked before it runs, so an in-place write
/// in between is an error instead of a silently wrong gradient.
pub fn record(
    out: Tensor,
    name: impl Into<String>,
    inputs: &[&Tensor],
    saved: &[&Tensor],
    backward: BackwardFn,
) -> Tensor {
    let node = Node {
        name: name.into(),
        edges: inputs.iter().map(|t| edge_for(t)).collect(),
        backward: Mutex::new(Some(backward)),
        saved: saved
            .iter()
            .enumerate()
            .map(|(index, t)| SavedVersion { storage: t.storage.clone(), version: t.storage.version(), index })
            .collect(),
        retained: Mutex::new(Vec::new()),
        out_shape: out.shape.clone(),
    };
    out.meta.requires_grad.store(true, std::sync::atomic::Ordering::Relaxed);
    out.set_grad_fn(Some(Arc::new(node)));
    out
}

/// Records a view op: like `record`, and remembers the base tensor so that
/// in-place writes through the view can rewrite the base's history.
pub fn record_view(
    out: Tensor,
    name: &'static str,
    input: &Tensor,
    backward: BackwardFn,
) -> Tensor {
    let out = record(out, name, &[input], &[], backward);
    out.set_view_of(input);
    out
}
