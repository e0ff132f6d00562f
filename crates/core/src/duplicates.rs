//! Duplicates and similar shots, kept apart. Exact duplicates share their bytes: the catalog's
//! content hash (sampled) proposes them and a full hash of each file confirms them. Similar shots
//! are photos whose vectors are close: grouped by complete linkage, so every two photos of a
//! group are close (a chain A~B~C with A and C far apart does not become one group), with a bound
//! on a group's size. Nothing here deletes anything.

use std::collections::HashMap;
use std::path::PathBuf;

/// Photos that are the same (exact) or look alike (similar), by id and path.
pub type Group = Vec<(i64, PathBuf)>;

/// Named similarity thresholds (cosine every two photos of a group reach), loosest last:
/// near-identical (bursts, re-encoded copies), same-scene (shots moments apart), related.
/// Provisional: set on what CLIP's image vectors do with bursts and re-encodings.
pub const PRESETS: &[(&str, f32)] = &[("near-identical", 0.97), ("same-scene", 0.92), ("related", 0.85)];

/// Photos a similar group holds at most, unless chosen otherwise.
pub const DEFAULT_MAX_GROUP: usize = 20;

/// The threshold of a preset by name.
pub fn preset(name: &str) -> Option<f32> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Splits groups that share a sampled content hash into groups whose files have the same bytes
/// (a full BLAKE3 of each file); files that cannot be read are left out.
pub fn confirm_exact(candidates: Vec<Group>) -> Vec<Group> {
    let mut confirmed = Vec::new();
    for group in candidates {
        let mut by_bytes: HashMap<[u8; 32], Group> = HashMap::new();
        for (id, path) in group {
            let hashed = std::fs::File::open(&path).and_then(|mut file| {
                let mut hasher = blake3::Hasher::new();
                std::io::copy(&mut file, &mut hasher)?;
                Ok(*hasher.finalize().as_bytes())
            });
            match hashed {
                Ok(hash) => by_bytes.entry(hash).or_default().push((id, path)),
                Err(err) => tracing::debug!("{}: left out of the duplicates ({err})", path.display()),
            }
        }
        let mut groups: Vec<Group> = by_bytes.into_values().filter(|g| g.len() > 1).collect();
        groups.sort();
        confirmed.extend(groups);
    }
    confirmed
}

/// Groups by complete linkage: `pairs` are (a, b, similarity) candidates; two groups merge, best
/// pair first, only when every photo of one is at least `threshold` similar to every photo of the
/// other (`similarity` answers for any two) and the result holds at most `max_size` photos.
/// Returns the groups of two or more, largest first.
pub fn complete_linkage(
    mut pairs: Vec<(i64, i64, f32)>,
    similarity: impl Fn(i64, i64) -> f32,
    threshold: f32,
    max_size: usize,
) -> Vec<Vec<i64>> {
    pairs.retain(|(a, b, s)| a != b && *s >= threshold);
    pairs.sort_by(|x, y| y.2.total_cmp(&x.2).then(x.0.cmp(&y.0)).then(x.1.cmp(&y.1)));
    let mut group_of: HashMap<i64, usize> = HashMap::new();
    let mut groups: Vec<Vec<i64>> = Vec::new();
    for (a, b, _) in pairs {
        let ga = *group_of.entry(a).or_insert_with(|| {
            groups.push(vec![a]);
            groups.len() - 1
        });
        let gb = *group_of.entry(b).or_insert_with(|| {
            groups.push(vec![b]);
            groups.len() - 1
        });
        if ga == gb || groups[ga].len() + groups[gb].len() > max_size {
            continue;
        }
        let close = groups[ga].iter().all(|x| groups[gb].iter().all(|y| similarity(*x, *y) >= threshold));
        if !close {
            continue;
        }
        let moved = std::mem::take(&mut groups[gb]);
        for id in &moved {
            group_of.insert(*id, ga);
        }
        groups[ga].extend(moved);
    }
    let mut found: Vec<Vec<i64>> = groups.into_iter().filter(|g| g.len() > 1).collect();
    for group in &mut found {
        group.sort();
    }
    found.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_of_close_pairs_is_not_one_group() {
        // A~B and B~C are close, A and C are not: complete linkage keeps A or C out.
        let sim = |a: i64, b: i64| match (a.min(b), a.max(b)) {
            (1, 2) => 0.96,
            (2, 3) => 0.95,
            (1, 3) => 0.80,
            (4, 5) => 0.99,
            _ => 0.1,
        };
        let pairs = vec![(1, 2, 0.96), (2, 3, 0.95), (4, 5, 0.99), (1, 3, 0.80)];
        assert_eq!(complete_linkage(pairs, sim, 0.9, 10), vec![vec![1, 2], vec![4, 5]]);
    }

    #[test]
    fn groups_stay_within_their_size_bound() {
        let pairs: Vec<(i64, i64, f32)> = (1..=6).flat_map(|a| (a + 1..=6).map(move |b| (a, b, 0.99))).collect();
        let groups = complete_linkage(pairs, |_, _| 0.99, 0.9, 4);
        assert!(groups.iter().all(|g| g.len() <= 4), "{groups:?}");
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 6);
    }

    #[test]
    fn exact_duplicates_are_confirmed_by_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let (a, b, c) = (write("a.jpg", b"same"), write("b.jpg", b"same"), write("c.jpg", b"other"));
        let groups =
            confirm_exact(vec![vec![(1, a.clone()), (2, b.clone()), (3, c)], vec![(4, dir.path().join("gone.jpg"))]]);
        assert_eq!(groups, vec![vec![(1, a), (2, b)]]);
    }
}
