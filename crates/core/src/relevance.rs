//! Where a query's strong matches end. Cosine scores mean different things for different
//! queries (a text against images scores far lower than an image against images, and a vague
//! query lower than a precise one), so no fixed number can cut them. Each query is judged against
//! its own background: its scores over a random sample of the library. A strong match stands out
//! of that background (its z-score is high); the cut falls at the widest drop among the ones that
//! stand out; and a query whose best match does not stand out has no close matches at all.

/// What kind of query the scores come from: their scales differ, so their cut-offs do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// Only text terms.
    Text,
    /// At least one image or photo term.
    Image,
}

/// The cut-offs of one kind of query, in standard deviations of the query's background scores.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cutoffs {
    /// A match must stand this far above the background to be strong.
    pub strong_z: f32,
    /// A query whose best match stands less far out than this has no close matches.
    pub weak_z: f32,
    /// A drop between neighbours at least this wide (in background deviations) ends the strong
    /// matches early; narrower drops do not.
    pub gap_z: f32,
}

impl Cutoffs {
    /// Provisional values, set on the generated colour model's libraries and on what is known of
    /// CLIP's score distributions (text-to-image cosines sit in a narrow band, so a real match
    /// stands several deviations out; image-to-image ones spread wider and near-duplicates stand
    /// out far). docs/ARCHITECTURE.md ("Relevance") says how they were chosen; a real model's
    /// library should confirm them.
    pub fn of(kind: QueryKind) -> Self {
        match kind {
            QueryKind::Text => Cutoffs { strong_z: 2.0, weak_z: 2.5, gap_z: 1.0 },
            QueryKind::Image => Cutoffs { strong_z: 2.5, weak_z: 3.0, gap_z: 1.0 },
        }
    }
}

/// How a ranking reads against its background.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relevance {
    /// The first `strong` results are strong matches (0 when none is).
    pub strong: usize,
    /// Even the best result does not stand out: "no close matches; closest results".
    pub weak: bool,
}

/// Judges `ranked` (scores, best first) against `background` (the same query's scores over a
/// random sample of the library). Without a usable background (too few photos) nothing is cut.
pub fn judge(ranked: &[f32], background: &[f32], cutoffs: Cutoffs) -> Relevance {
    const MIN_BACKGROUND: usize = 8;
    if background.len() < MIN_BACKGROUND {
        return Relevance { strong: ranked.len(), weak: false };
    }
    let n = background.len() as f32;
    let mean = background.iter().sum::<f32>() / n;
    let deviation = (background.iter().map(|s| (s - mean) * (s - mean)).sum::<f32>() / n).sqrt();
    if ranked.is_empty() || deviation.is_nan() || deviation <= 1e-6 {
        // Every photo scores the same: the query says nothing the photos differ in.
        return Relevance { strong: 0, weak: true };
    }
    let z = |s: f32| (s - mean) / deviation;
    if z(ranked[0]) < cutoffs.weak_z {
        return Relevance { strong: 0, weak: true };
    }
    let standing_out = ranked.iter().take_while(|s| z(**s) >= cutoffs.strong_z).count();
    // The widest drop after a strong match (to the next result, strong or not).
    let widest = (0..standing_out)
        .filter_map(|i| ranked.get(i + 1).map(|next| (i, ranked[i] - next)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let strong = match widest {
        Some((i, drop)) if drop / deviation >= cutoffs.gap_z => i + 1,
        _ => standing_out,
    };
    Relevance { strong, weak: false }
}

/// The cosine of `query` with each of `sample` (unit vectors both).
pub fn background_scores(query: &[f32], sample: &[Vec<f32>]) -> Vec<f32> {
    sample.iter().map(|v| v.iter().zip(query).map(|(a, b)| a * b).sum()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A background of `n` scores spread evenly around `mean` with deviation about `spread`.
    fn background(n: usize, mean: f32, spread: f32) -> Vec<f32> {
        (0..n).map(|i| mean + spread * 1.732 * (2.0 * i as f32 / (n - 1) as f32 - 1.0)).collect()
    }

    #[test]
    fn strong_matches_end_at_the_widest_drop_among_those_that_stand_out() {
        let bg = background(200, 0.20, 0.02);
        let text = Cutoffs::of(QueryKind::Text);
        // Three clear matches, a drop, then two that still stand out a little, then the crowd.
        let ranked = [0.34, 0.335, 0.33, 0.27, 0.265, 0.22, 0.21];
        assert_eq!(judge(&ranked, &bg, text), Relevance { strong: 3, weak: false });
        // No wide drop: every one that stands out is strong.
        let ranked = [0.30, 0.29, 0.28, 0.27, 0.26, 0.25, 0.245];
        assert_eq!(judge(&ranked, &bg, text), Relevance { strong: 7, weak: false });
    }

    #[test]
    fn a_best_match_inside_the_background_is_weak() {
        let bg = background(200, 0.20, 0.02);
        let ranked = [0.245, 0.24, 0.23];
        assert_eq!(judge(&ranked, &bg, Cutoffs::of(QueryKind::Text)), Relevance { strong: 0, weak: true });
        // A flat background (the query scores every photo the same) says nothing either.
        assert!(judge(&[0.0, 0.0], &[0.0; 50], Cutoffs::of(QueryKind::Text)).weak);
    }

    #[test]
    fn image_queries_need_to_stand_further_out_than_text_queries() {
        let bg = background(200, 0.50, 0.10);
        let ranked = [0.78, 0.60, 0.55];
        assert!(!judge(&ranked, &bg, Cutoffs::of(QueryKind::Text)).weak);
        assert!(judge(&ranked, &bg, Cutoffs::of(QueryKind::Image)).weak);
    }

    #[test]
    fn without_enough_background_nothing_is_cut() {
        assert_eq!(judge(&[0.9, 0.1], &[0.5; 3], Cutoffs::of(QueryKind::Text)), Relevance { strong: 2, weak: false });
    }
}
