//! The optimizer step: one call updates every parameter of a group in place.
//! One generic driver serves every optimizer: it validates, allocates
//! missing state, checks that nothing written aliases anything else, counts
//! steps, runs the rule's fused kernel (rayon across tensors and across
//! chunks of each) and bumps storage versions. The rules themselves live in
//! `cpu::optim`.

use crate::cpu::optim::adagrad::{Adagrad, RmsProp};
use crate::cpu::optim::adam::{Adam, Adamax, NAdam, RAdam};
use crate::cpu::optim::adamp::AdamP;
use crate::cpu::optim::paper::{AdaBelief, AdaBound};
use crate::cpu::optim::sgd::{Lion, Sgd};
use crate::cpu::optim::{Rule, TensorInfo};
use crate::cpu::Float;
use crate::error::{Error, Result};
use crate::tensor::{DType, Tensor};
use rayon::prelude::*;

/// Every optimizer the driver knows, with its hyper-parameters.
#[derive(Clone, Copy, Debug)]
pub enum Config {
    Sgd(Sgd),
    Adam(Adam),
    RAdam(RAdam),
    NAdam(NAdam),
    Adamax(Adamax),
    Adagrad(Adagrad),
    RmsProp(RmsProp),
    AdaBound(AdaBound),
    AdaBelief(AdaBelief),
    AdamP(AdamP),
    Lion(Lion),
}

/// `each_rule!(cfg, r => expr)` evaluates `expr` with `r` bound to the rule.
macro_rules! each_rule {
    ($cfg:expr, $r:ident => $body:expr) => {
        match $cfg {
            Config::Sgd($r) => $body,
            Config::Adam($r) => $body,
            Config::RAdam($r) => $body,
            Config::NAdam($r) => $body,
            Config::Adamax($r) => $body,
            Config::Adagrad($r) => $body,
            Config::RmsProp($r) => $body,
            Config::AdaBound($r) => $body,
            Config::AdaBelief($r) => $body,
            Config::AdamP($r) => $body,
            Config::Lion($r) => $body,
        }
    };
}

impl Config {
    pub fn name(&self) -> &'static str {
        each_rule!(self, r => r.name())
    }
    pub fn state_names(&self) -> Vec<&'static str> {
        each_rule!(self, r => r.state_names())
    }
    pub fn counts_steps(&self) -> bool {
        each_rule!(self, r => r.counts_steps())
    }
    pub fn aux_name(&self) -> Option<&'static str> {
        each_rule!(self, r => r.aux_name())
    }
}

/// A parameter's state as the caller holds it: buffers in `state_names`
/// order (None = not created yet), the step count so far, the scalar state.
#[derive(Clone, Debug)]
pub struct ParamState {
    pub bufs: Vec<Option<Tensor>>,
    pub step: f64,
    pub aux: f64,
}

/// Updates `params` in place from `grads`; returns each parameter's new state.
pub fn step(
    cfg: &Config,
    params: &[Tensor],
    grads: &[Tensor],
    states: Vec<ParamState>,
) -> Result<Vec<ParamState>> {
    each_rule!(cfg, r => drive(r, params, grads, states))
}

fn drive<R: Rule>(
    r: &R,
    params: &[Tensor],
    grads: &[Tensor],
    states: Vec<ParamState>,
) -> Result<Vec<ParamState>> {
    let op = r.name();
    if params.len() != grads.len() || params.len() != states.len() {
        return Err(Error::value(format!(
            "{op}: got {} parameters, {} gradients and {} states; they must match",
            params.len(),
            grads.len(),
            states.len()
        )));
    }
    let names = r.state_names();
    let mut grads_c = Vec::with_capacity(grads.len());
    let mut infos = Vec::with_capacity(params.len());
    let mut out = Vec::with_capacity(params.len());
    for (i, ((p, g), st)) in params.iter().zip(grads).zip(states).enumerate() {
        if !p.dtype.is_float() {
            return Err(Error::type_(format!(
                "{op}: parameter {i} has dtype {}; only floating point parameters can be optimized",
                p.dtype.name()
            )));
        }
        if !p.is_contiguous() {
            return Err(Error::runtime(format!(
                "{op}: parameter {i} (shape {:?}) is not contiguous",
                p.shape
            )));
        }
        if g.shape != p.shape || g.dtype != p.dtype {
            return Err(Error::runtime(format!(
                "{op}: gradient {i} has shape {:?} and dtype {} but its parameter has shape {:?} and dtype {}",
                g.shape,
                g.dtype.name(),
                p.shape,
                p.dtype.name()
            )));
        }
        grads_c.push(if g.is_contiguous() {
            g.clone()
        } else {
            crate::with_dtype!(g.dtype, T => crate::cpu::elementwise::copy_contiguous::<T>(g))
        });
        if st.bufs.len() != names.len() {
            return Err(Error::value(format!(
                "{op}: parameter {i} has {} state buffers, expected {} ({names:?})",
                st.bufs.len(),
                names.len()
            )));
        }
        let mut fresh = false;
        let mut bufs = Vec::with_capacity(names.len());
        for (k, b) in st.bufs.into_iter().enumerate() {
            bufs.push(match b {
                Some(b) => {
                    if b.shape != p.shape || b.dtype != p.dtype || !b.is_contiguous() {
                        return Err(Error::runtime(format!(
                            "{op}: state '{}' of parameter {i} has shape {:?} and dtype {}{} but the parameter has shape {:?} and dtype {}",
                            names[k],
                            b.shape,
                            b.dtype.name(),
                            if b.is_contiguous() { "" } else { " (not contiguous)" },
                            p.shape,
                            p.dtype.name()
                        )));
                    }
                    b
                }
                None => {
                    fresh = true;
                    Tensor::full(&p.shape, r.state_init(k), p.dtype)
                }
            });
        }
        if !st.step.is_finite() || st.step < 0.0 {
            return Err(Error::value(format!(
                "{op}: parameter {i} has step count {}",
                st.step
            )));
        }
        let step = if r.counts_steps() {
            st.step + 1.0
        } else {
            st.step
        };
        let rows = p.shape.first().copied().unwrap_or(1);
        infos.push(TensorInfo {
            step,
            fresh,
            aux: st.aux,
            rows,
            ndim: p.ndim(),
        });
        out.push(ParamState {
            bufs: bufs.into_iter().map(Some).collect(),
            step,
            aux: st.aux,
        });
    }
    // every buffer written (parameters, state) must be disjoint from every
    // other buffer of the call: the tensors are updated from many threads
    let written = params
        .iter()
        .enumerate()
        .map(|(i, p)| (p, format!("parameter {i}")));
    let state = out.iter().enumerate().flat_map(|(i, s)| {
        s.bufs.iter().zip(&names).map(move |(b, n)| {
            (
                b.as_ref().unwrap_or(&params[i]),
                format!("state '{n}' of parameter {i}"),
            )
        })
    });
    let read = grads_c
        .iter()
        .enumerate()
        .map(|(i, g)| (g, format!("gradient {i}")));
    check_disjoint(op, written.chain(state).collect(), read.collect())?;

    let coefs: Vec<R::Coef> = infos.iter_mut().map(|t| r.coef(t)).collect();
    crate::cpu::install(|| {
        (0..params.len()).into_par_iter().for_each(|i| {
            let bufs: Vec<&Tensor> = out[i].bufs.iter().flatten().collect();
            match params[i].dtype {
                DType::F32 => {
                    update::<R, f32>(r, &coefs[i], &infos[i], &params[i], &grads_c[i], &bufs)
                }
                DType::F64 => {
                    update::<R, f64>(r, &coefs[i], &infos[i], &params[i], &grads_c[i], &bufs)
                }
                _ => {} // rejected above
            }
        })
    });
    for (p, (st, info)) in params.iter().zip(out.iter_mut().zip(&infos)) {
        p.storage.bump_version();
        st.bufs
            .iter()
            .flatten()
            .for_each(|b| b.storage.bump_version());
        st.aux = info.aux;
    }
    Ok(out)
}

fn update<R: Rule, T: Float>(
    r: &R,
    c: &R::Coef,
    info: &TensorInfo,
    p: &Tensor,
    g: &Tensor,
    bufs: &[&Tensor],
) {
    let n = p.numel();
    // SAFETY: p is contiguous, so [offset, offset + n) is exactly its
    // elements; check_disjoint proved no other buffer of this call (written
    // by another task, or read) overlaps it, and this task is the only one
    // touching parameter i.
    let pv = unsafe { &mut p.storage.cpu().slice_mut::<T>()[p.offset..p.offset + n] };
    let gv = &g.storage.cpu().slice::<T>()[g.offset..g.offset + n];
    let mut sv: Vec<&mut [T]> = bufs
        .iter()
        // SAFETY: each state buffer is contiguous with the parameter's shape
        // and disjoint from every other buffer of the call (checked above).
        .map(|b| unsafe { &mut b.storage.cpu().slice_mut::<T>()[b.offset..b.offset + n] })
        .collect();
    r.tensor(c, info, pv, gv, &mut sv);
}

/// Fails if a written range overlaps any other written or read range.
/// Ranges are compared per storage, in elements, after sorting (n log n).
pub(crate) fn check_disjoint(
    op: &str,
    written: Vec<(&Tensor, String)>,
    read: Vec<(&Tensor, String)>,
) -> Result<()> {
    let key = |t: &Tensor| t.storage.cpu().as_ptr() as usize;
    let mut spans: Vec<(usize, usize, usize, bool, &String)> = written
        .iter()
        .map(|(t, n)| (key(t), t.offset, t.offset + t.numel(), true, n))
        .chain(
            read.iter()
                .map(|(t, n)| (key(t), t.offset, t.offset + t.numel(), false, n)),
        )
        .filter(|s| s.2 > s.1)
        .collect();
    spans.sort_by_key(|s| (s.0, s.1));
    // sweep each storage keeping the furthest-reaching written and read span
    let mut last_w: Option<(usize, usize, &String)> = None;
    let mut last_r: Option<(usize, usize, &String)> = None;
    for &(k, lo, hi, w, name) in &spans {
        let clash = |prev: Option<(usize, usize, &String)>| {
            prev.filter(|&(pk, phi, _)| pk == k && phi > lo)
                .map(|(_, _, n)| n.clone())
        };
        let other = if w {
            clash(last_w).or_else(|| clash(last_r))
        } else {
            clash(last_w)
        };
        if let Some(o) = other {
            return Err(Error::value(format!(
                "{op}: {name} shares memory with {o}; each parameter may appear only once and state/gradients may not alias parameters"
            )));
        }
        let slot = if w { &mut last_w } else { &mut last_r };
        if !matches!(slot, Some((pk, phi, _)) if *pk == k && *phi >= hi) {
            *slot = Some((k, hi, name));
        }
    }
    Ok(())
}
