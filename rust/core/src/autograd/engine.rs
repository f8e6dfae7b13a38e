//! The backward pass: topological order by dependency counting (Kahn), one
//! gradient buffer per node, accumulation into leaves' `.grad`.

use super::{Edge, GradModeGuard, Node};
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::{lock, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

fn key(n: &Arc<Node>) -> usize {
    Arc::as_ptr(n) as usize
}

/// A gradient that will be stored in `.grad`: it must not alias memory that
/// something else may later write in place (an upstream grad passed through
/// by `add`, an expanded view), so shared or strided ones are copied.
fn owned_grad(g: Tensor) -> Result<Tensor> {
    let unique = Arc::strong_count(&g.0) == 1
        && match &g.storage {
            crate::tensor::Storage::Cpu(b) => Arc::strong_count(b) == 1,
        };
    if unique && g.is_contiguous() && g.offset == 0 && g.grad_fn().is_none() {
        Ok(g)
    } else if g.grad_fn().is_some() {
        Ok(g) // create_graph: keep the history
    } else {
        ops::shape::contiguous_copy(&g)
    }
}

fn accumulate(slot: &mut Option<Tensor>, g: Tensor) -> Result<()> {
    *slot = Some(match slot.take() {
        None => g,
        Some(prev) => ops::add(&prev, &g)?,
    });
    Ok(())
}

fn check_grad(node: &Node, i: usize, g: &Tensor, expected: &[usize]) -> Result<()> {
    if g.shape != expected {
        return Err(Error::runtime(format!(
            "Function {}Backward returned an invalid gradient at index {i} - got {:?} but expected shape compatible with {:?}",
            node.name, g.shape, expected
        )));
    }
    Ok(())
}

fn expected_shape(e: &Edge) -> Option<Vec<usize>> {
    match e {
        Edge::None => None,
        Edge::Node(n) => Some(n.out_shape.clone()),
        Edge::Leaf(t) => Some(t.shape.clone()),
    }
}

/// Runs the backward pass from `roots` (tensor, its incoming gradient).
/// With `capture`, gradients for those tensors are returned instead of being
/// accumulated into any `.grad` (that is `autograd.grad`).
fn run(
    roots: Vec<(Tensor, Tensor)>,
    retain_graph: bool,
    create_graph: bool,
    capture: Option<&[Tensor]>,
) -> Result<Vec<Option<Tensor>>> {
    let _mode = GradModeGuard::new(create_graph);
    let mut captured: Vec<Option<Tensor>> = vec![None; capture.map_or(0, |c| c.len())];
    let capture_index = |t: &Tensor| capture.and_then(|c| c.iter().position(|x| x.same_tensor(t)));
    let capture_node = |n: &Arc<Node>| {
        capture.map(|c| {
            c.iter()
                .enumerate()
                .filter(|(_, x)| x.grad_fn().is_some_and(|f| Arc::ptr_eq(&f, n)))
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        })
    };

    let mut grads: HashMap<usize, Tensor> = HashMap::new();
    let mut start: Vec<Arc<Node>> = Vec::new();
    for (i, (t, g)) in roots.into_iter().enumerate() {
        if !t.requires_grad() {
            return Err(Error::runtime(format!(
                "element {i} of tensors does not require grad and does not have a grad_fn"
            )));
        }
        match t.grad_fn() {
            Some(n) => {
                let mut slot = grads.remove(&key(&n));
                accumulate(&mut slot, g)?;
                if let Some(s) = slot {
                    grads.insert(key(&n), s);
                }
                start.push(n);
            }
            None => match capture_index(&t) {
                Some(ci) => accumulate(&mut captured[ci], g)?,
                None if capture.is_none() => {
                    let mut slot = lock(&t.meta.grad);
                    let g = owned_grad(g)?;
                    accumulate(&mut slot, g)?;
                }
                None => {}
            },
        }
    }

    // Count, for every reachable node, how many edges lead into it.
    let mut deps: HashMap<usize, usize> = HashMap::new();
    let mut seen: HashMap<usize, Arc<Node>> = HashMap::new();
    let mut stack: Vec<Arc<Node>> = start.clone();
    for n in &start {
        seen.insert(key(n), n.clone());
    }
    while let Some(n) = stack.pop() {
        for e in &n.edges {
            if let Edge::Node(child) = e {
                *deps.entry(key(child)).or_insert(0) += 1;
                if seen.insert(key(child), child.clone()).is_none() {
                    stack.push(child.clone());
                }
            }
        }
    }

    let mut ready: Vec<Arc<Node>> = Vec::new();
    for n in start {
        if deps.get(&key(&n)).copied().unwrap_or(0) == 0 && !ready.iter().any(|r| Arc::ptr_eq(r, &n)) {
            ready.push(n);
        }
    }

    while let Some(node) = ready.pop() {
        let g = grads.remove(&key(&node));
        if let (Some(g), Some(idx)) = (&g, capture_node(&node)) {
            for ci in idx {
                accumulate(&mut captured[ci], g.clone())?;
            }
        }
        let input_grads = match &g {
            None => vec![None; node.edges.len()],
            Some(g) => {
                // retain_grad() on a non-leaf: store its gradient.
                if capture.is_none() {
                    for w in lock(&node.retained).iter() {
                        if let Some(t) = w.upgrade() {
                            let t = Tensor(t);
                            let mut slot = lock(&t.meta.grad);
                            accumulate(&mut slot, owned_grad(g.clone())?)?;
                        }
                    }
                }
                for s in &node.saved {
                    let now = s.storage.version();
                    if now != s.version {
                        return Err(Error::runtime(format!(
                            "one of the variables needed for gradient computation has been modified by an \
                             inplace operation: saved tensor {} of {}Backward is at version {now}; expected version {} instead.",
                            s.index, node.name, s.version
                        )));
                    }
                }
                let mut slot = lock(&node.backward);
                let f = slot.as_mut().ok_or_else(|| {
                    Error::runtime(format!(
                        "Trying to backward through the graph a second time (or directly access saved tensors \
                         after they have already been freed) at {}Backward. Saved intermediate values of the graph \
                         are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if you \
                         need to backward through the graph a second time.",
                        node.name
                    ))
                })?;
                let out = f(g)?;
                if !retain_graph {
                    *slot = None;
                }
                out
            }
        };
        if input_grads.len() != node.edges.len() {
            return Err(Error::runtime(format!(
                "function {}Backward returned {} gradients, expected {}",
                node.name,
                input_grads.len(),
                node.edges.len()
            )));
        }
        for (i, (edge, ig)) in node.edges.iter().zip(input_grads).enumerate() {
            if let (Some(g), Some(shape)) = (&ig, expected_shape(edge)) {
                check_grad(&node, i, g, &shape)?;
            }
            match edge {
                Edge::None => {}
                Edge::Leaf(t) => {
                    if let Some(g) = ig {
                        match capture_index(t) {
                            Some(ci) => accumulate(&mut captured[ci], g)?,
                            None if capture.is_none() => {
                                let g = owned_grad(g)?;
                                let mut slot = lock(&t.meta.grad);
                                accumulate(&mut slot, g)?;
                            }
                            None => {}
                        }
                    }
                }
                Edge::Node(child) => {
                    let k = key(child);
                    if let Some(g) = ig {
                        let mut slot = grads.remove(&k);
                        accumulate(&mut slot, g)?;
                        if let Some(s) = slot {
                            grads.insert(k, s);
                        }
                    }
                    if let Some(d) = deps.get_mut(&k) {
                        *d -= 1;
                        if *d == 0 {
                            ready.push(child.clone());
                        }
                    }
                }
            }
        }
    }
    Ok(captured)
}

fn default_grad(t: &Tensor, g: Option<Tensor>) -> Result<Tensor> {
    match g {
        Some(g) => {
            if g.shape != t.shape {
                return Err(Error::runtime(format!(
                    "backward: mismatch in shape: grad_output has a shape of {:?} and output has a shape of {:?}",
                    g.shape, t.shape
                )));
            }
            Ok(g)
        }
        None => {
            if t.numel() != 1 {
                return Err(Error::runtime(format!(
                    "grad can be implicitly created only for scalar outputs (got shape {:?})",
                    t.shape
                )));
            }
            Ok(Tensor::full(&t.shape, 1.0, t.dtype))
        }
    }
}

/// `tensor.backward(gradient, retain_graph, create_graph)`.
pub fn backward(t: &Tensor, gradient: Option<Tensor>, retain_graph: bool, create_graph: bool) -> Result<()> {
    let g = default_grad(t, gradient)?;
    run(vec![(t.clone(), g)], retain_graph || create_graph, create_graph, None).map(|_| ())
}

/// `dlcore.autograd.grad(outputs, inputs, grad_outputs, ...)`.
pub fn grad(
    outputs: &[Tensor],
    inputs: &[Tensor],
    grad_outputs: Vec<Option<Tensor>>,
    retain_graph: bool,
    create_graph: bool,
    allow_unused: bool,
) -> Result<Vec<Option<Tensor>>> {
    for (i, t) in inputs.iter().enumerate() {
        if !t.requires_grad() {
            return Err(Error::runtime(format!(
                "grad: input {i} of the differentiated Tensors does not require grad"
            )));
        }
    }
    let mut roots = Vec::with_capacity(outputs.len());
    for (i, o) in outputs.iter().enumerate() {
        let g = grad_outputs.get(i).cloned().flatten();
        roots.push((o.clone(), default_grad(o, g)?));
    }
    let out = run(roots, retain_graph || create_graph, create_graph, Some(inputs))?;
    if !allow_unused {
        if let Some(i) = out.iter().position(|g| g.is_none()) {
            return Err(Error::runtime(format!(
                "grad: one of the differentiated Tensors (index {i}) appears to not have been used in the graph. \
                 Set allow_unused=True if this is the desired behavior."
            )));
        }
    }
    Ok(out)
}
