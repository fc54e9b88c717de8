//! Right sides of `left @> right` derived from the left side, and the pairs of the
//! containment properties.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{BoxedStrategy, Union};

use super::doc::{Doc, Text};
use super::values::{doc, key, leaf, object, scalar_variant, text_variant};

/// Sub-objects of an object: each entry kept or dropped, its key maybe varied and its
/// value derived; sometimes one extra entry.
fn derive_entries(entries: &[(Text, Doc)]) -> BoxedStrategy<Doc> {
    let parts: Vec<BoxedStrategy<(Text, Doc)>> = entries
        .iter()
        .map(|(k, v)| {
            let key = prop_oneof![4 => Just(k.clone()), 1 => text_variant(k)];
            (key, derive(v, false)).boxed()
        })
        .collect();
    let n = entries.len();
    (
        parts,
        vec(any::<bool>(), n),
        option::weighted(0.15, (key(), leaf())),
    )
        .prop_map(|(parts, keep, extra)| {
            let mut out: Vec<(Text, Doc)> = parts
                .into_iter()
                .zip(keep)
                .filter_map(|(part, keep)| keep.then_some(part))
                .collect();
            out.extend(extra);
            Doc::Obj(out)
        })
        .boxed()
}

/// A right side derived from `doc`: the same document, a sub-object, a sub-array with
/// elements reordered, repeated and themselves derived, a scalar respelled or mutated,
/// the document wrapped in an array, an empty container or a random scalar; at the top
/// level also an element lifted out of an array (`[5] @> 5`, `[[5]] @> [5]`).
fn derive(doc: &Doc, top: bool) -> BoxedStrategy<Doc> {
    let mut options: Vec<(u32, BoxedStrategy<Doc>)> = vec![(3, Just(doc.clone()).boxed())];
    match doc {
        Doc::Arr(items) if !items.is_empty() => {
            let n = items.len();
            let parts: Vec<BoxedStrategy<Doc>> =
                items.iter().map(|item| derive(item, false)).collect();
            let picks = (parts, vec(0..n, 0..=n + 1)).prop_map(|(parts, picks)| {
                Doc::Arr(picks.into_iter().map(|i| parts[i].clone()).collect())
            });
            options.push((8, picks.boxed()));
            if top {
                options.push((2, select(items.clone()).boxed()));
            }
        }
        Doc::Obj(entries) if !entries.is_empty() => {
            options.push((8, derive_entries(entries)));
        }
        Doc::Arr(_) | Doc::Obj(_) => {}
        scalar => options.push((6, scalar_variant(scalar))),
    }
    options.push((1, Just(Doc::Arr(vec![doc.clone()])).boxed()));
    options.push((
        1,
        prop_oneof![Just(Doc::Arr(vec![])), Just(Doc::Obj(vec![]))].boxed(),
    ));
    options.push((1, leaf()));
    Union::new_weighted(options).boxed()
}

/// Pairs (left, right) for `left @> right`: mostly a right side derived from the left,
/// sometimes two independent documents.
pub fn pair() -> BoxedStrategy<(Doc, Doc)> {
    let derived = |left: BoxedStrategy<Doc>| {
        left.prop_flat_map(|left| {
            let right = derive(&left, true);
            (Just(left), right)
        })
    };
    prop_oneof![
        4 => derived(doc()),
        2 => derived(object()),
        1 => (doc(), doc()),
        1 => (leaf(), leaf()),
    ]
    .boxed()
}
