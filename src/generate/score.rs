//! Teacher-forced scoring of a text: each token's log-probability given the tokens before it,
//! and the token the model would have picked there. Perplexity and top-1 agreement between two
//! encodings of one model come from it, which is how the shipped generator encoding is chosen
//! (`wasmrag perplexity`, BENCHMARKS.md).

use super::{GenerateError, Generator};
use candle_core::D;

/// What the model made of one token of a scored text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenScore {
    /// Natural-log probability the model gave the token, knowing the tokens before it.
    pub logprob: f32,
    /// The token it rated most likely there, the last on ties (what greedy decoding writes).
    pub top: u32,
}

impl Generator {
    /// Scores `tokens[1..]`, each given those before it, feeding one token per forward pass on
    /// a fresh CPU decoder (so the result does not depend on prefill chunking). At most
    /// [`Generator::context_length`] tokens are read.
    pub fn score(&self, tokens: &[u32]) -> Result<Vec<TokenScore>, GenerateError> {
        let compute = |e: candle_core::Error| GenerateError::Compute(e.to_string());
        let tokens = &tokens[..tokens.len().min(self.context)];
        let mut decoder = self.model.clone();
        let mut out = Vec::with_capacity(tokens.len().saturating_sub(1));
        for pair in tokens.windows(2) {
            let logits = decoder.forward(&pair[..1])?;
            let logprobs = candle_nn::ops::log_softmax(&logits, D::Minus1).map_err(compute)?;
            let values = logprobs.to_vec1::<f32>().map_err(compute)?;
            let logprob = *values.get(pair[1] as usize).ok_or_else(|| GenerateError::Compute(format!("token {} is outside the vocabulary", pair[1])))?;
            out.push(TokenScore { logprob, top: super::decoder::last_argmax(&values) });
        }
        Ok(out)
    }
}

/// Perplexity of scored tokens: `exp` of their mean negative log-probability.
pub fn perplexity(scores: &[TokenScore]) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    (-scores.iter().map(|s| f64::from(s.logprob)).sum::<f64>() / scores.len() as f64).exp()
}

/// Share of positions where two scorings of the same text pick the same top token.
pub fn agreement(a: &[TokenScore], b: &[TokenScore]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return f64::NAN;
    }
    a.iter().zip(b).filter(|(x, y)| x.top == y.top).count() as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(logprob: f32, top: u32) -> TokenScore {
        TokenScore { logprob, top }
    }

    #[test]
    fn perplexity_is_exp_of_mean_surprise() {
        let half = 0.5f32.ln();
        assert!((perplexity(&[s(half, 0), s(half, 1)]) - 2.0).abs() < 1e-6);
        assert!((perplexity(&[s(0.0, 0), s(0.25f32.ln(), 0)]) - 2.0).abs() < 1e-6, "geometric mean of 1 and 4");
        assert!(perplexity(&[]).is_nan());
    }

    #[test]
    fn agreement_counts_matching_top_tokens() {
        let a = [s(0.0, 1), s(0.0, 2), s(0.0, 3), s(0.0, 4)];
        let b = [s(-1.0, 1), s(-1.0, 9), s(-1.0, 3), s(-1.0, 9)];
        assert_eq!(agreement(&a, &b), 0.5);
        assert_eq!(agreement(&a, &a), 1.0);
    }
}
