//! One behavioural suite for both state stores (`sqlite::…` always, `postgres::…` with
//! `ZHIFU_TEST_POSTGRES`): several store handles on one database stand for several server
//! instances, and race for the same claims, the same daily limit, the same records to recover,
//! the same ticket key and nonces, and the same received events.

mod common;

use std::sync::Arc;

use common::backend::Backend;
use serde_json::json;
use zhifu_runtime::store::{
    Begin, Begun, EventFilter, IDEM_RETENTION_SECS, IdemKey, IdemState, Lease, Pruned,
    ReceivedEvent, Recorded, Reservation, SPEND_RETENTION_SECS, SPEND_WINDOW_SECS, Spend, Store,
    StoreError,
};

const NOW: i64 = 1_795_507_560;

on_both_stores!(
    concurrent_identical_claims_over_three_instances_claim_once,
    a_taken_key_returns_its_record_unchanged_and_reserves_nothing,
    completing_follows_the_rules,
    recovery_take_over_has_exactly_one_winner,
    a_daily_limit_shared_by_three_instances_is_never_exceeded,
    reservations_roll_with_the_window_and_are_never_reused,
    pruning_drops_only_old_rows,
    events_are_stored_once_and_states_only_move_forward,
    the_ticket_key_and_nonces_are_shared_by_every_instance,
    concurrent_start_ups_migrate_once_and_a_newer_schema_is_refused,
);

fn key(reference: &str) -> IdemKey {
    IdemKey::new("pingpp", "create_transfer", reference)
}

fn lease(owner: &str, until_unix: i64) -> Lease {
    Lease {
        owner: owner.into(),
        until_unix,
    }
}

fn begin(reference: &str, digest: &str, owner: &str, spend: Option<(i64, i64)>) -> Begin {
    Begin {
        key: key(reference),
        args_digest: digest.into(),
        now_unix: NOW,
        lease: lease(owner, NOW + 60),
        spend: spend.map(|(fen, limit)| Spend {
            provider: "pingpp".into(),
            fen,
            daily_limit_fen: Some(limit),
            reference: reference.into(),
        }),
    }
}

/// `n` store handles ("instances") on the backend's database.
async fn instances(backend: &Backend, n: usize) -> Vec<Arc<dyn Store>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(backend.open().await);
    }
    out
}

async fn concurrent_identical_claims_over_three_instances_claim_once(backend: Backend) {
    let stores = instances(&backend, 3).await;
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let store = stores[i % 3].clone();
            tokio::spawn(async move {
                store
                    .begin(begin(
                        "T1",
                        "d1",
                        &format!("owner{i}"),
                        Some((100, 1_000_000)),
                    ))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut claimed = Vec::new();
    let mut existing = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Begun::Claimed { reservation } => claimed.push((i, reservation)),
            Begun::Existing(r) => existing.push(*r),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(claimed.len(), 1, "{}: exactly one claim", backend.name());
    let winner = format!("owner{}", claimed[0].0);
    assert!(claimed[0].1.is_some(), "the winner reserved its spend");
    assert_eq!(existing.len(), 59);
    for r in &existing {
        assert_eq!(
            (r.state, r.owner.as_str(), r.args_digest.as_str()),
            (IdemState::Pending, winner.as_str(), "d1")
        );
        assert!(r.in_flight(NOW));
    }
    assert_eq!(
        stores[1]
            .spent_last_24h("pingpp".into(), NOW)
            .await
            .unwrap(),
        100,
        "one reservation, not sixty"
    );
}

async fn a_taken_key_returns_its_record_unchanged_and_reserves_nothing(backend: Backend) {
    let [a, b] = <[_; 2]>::try_from(instances(&backend, 2).await)
        .ok()
        .unwrap();
    assert!(matches!(
        a.begin(begin("T2", "d1", "A", Some((300, 10_000))))
            .await
            .unwrap(),
        Begun::Claimed {
            reservation: Some(_)
        }
    ));
    let Begun::Existing(r) = b
        .begin(begin("T2", "other-args", "B", Some((300, 10_000))))
        .await
        .unwrap()
    else {
        panic!("the key is taken")
    };
    assert_eq!((r.args_digest.as_str(), r.owner.as_str()), ("d1", "A"));
    assert_eq!(r.created_unix, NOW);
    assert_eq!(b.spent_last_24h("pingpp".into(), NOW).await.unwrap(), 300);
    // Over the limit: nothing is written, not even the claim.
    assert_eq!(
        b.begin(begin("T3", "d", "B", Some((9_701, 10_000))))
            .await
            .unwrap(),
        Begun::OverLimit {
            spent: 300,
            limit: 10_000
        }
    );
    assert!(a.get(key("T3")).await.unwrap().is_none());
    assert!(matches!(
        b.begin(begin("T4", "d", "B", Some((-1, 10_000)))).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn completing_follows_the_rules(backend: Backend) {
    let [a, b] = <[_; 2]>::try_from(instances(&backend, 2).await)
        .ok()
        .unwrap();
    assert!(matches!(
        a.complete(key("C1"), IdemState::Done, None, NOW, None)
            .await,
        Err(StoreError::NotClaimed(_))
    ));
    a.complete(key("C1"), IdemState::Failed, None, NOW, None)
        .await
        .expect("failing a key that is not stored is a no-op");
    let Begun::Claimed {
        reservation: Some(id),
    } = a
        .begin(begin("C1", "d", "A", Some((500, 10_000))))
        .await
        .unwrap()
    else {
        panic!("claimed")
    };
    assert!(matches!(
        b.complete(key("C1"), IdemState::Pending, None, NOW, None)
            .await,
        Err(StoreError::Invalid(_))
    ));
    b.complete(
        key("C1"),
        IdemState::Done,
        Some(json!({"id": "tr_1", "amount": 500})),
        NOW + 1,
        None,
    )
    .await
    .unwrap();
    for state in [IdemState::Done, IdemState::Unknown, IdemState::Failed] {
        assert!(matches!(
            a.complete(key("C1"), state, None, NOW + 2, Some(id)).await,
            Err(StoreError::AlreadyDone(_))
        ));
    }
    let done = a.get(key("C1")).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.result, done.updated_unix),
        (
            IdemState::Done,
            Some(json!({"id": "tr_1", "amount": 500})),
            NOW + 1
        )
    );
    assert_eq!(
        a.spent_last_24h("pingpp".into(), NOW).await.unwrap(),
        500,
        "a refused completion releases nothing"
    );

    // Failed: the record goes and the reservation comes back, in one transaction.
    let Begun::Claimed {
        reservation: Some(id2),
    } = a
        .begin(begin("C2", "d", "A", Some((200, 10_000))))
        .await
        .unwrap()
    else {
        panic!("claimed")
    };
    b.complete(key("C2"), IdemState::Failed, None, NOW, Some(id2))
        .await
        .unwrap();
    assert!(a.get(key("C2")).await.unwrap().is_none());
    assert_eq!(a.spent_last_24h("pingpp".into(), NOW).await.unwrap(), 500);
    assert!(matches!(
        b.begin(begin("C2", "d", "B", None)).await.unwrap(),
        Begun::Claimed { reservation: None }
    ));

    // Unknown keeps the key taken, with what is known.
    b.complete(
        key("C2"),
        IdemState::Unknown,
        Some(json!({"maybe_running": true})),
        NOW,
        None,
    )
    .await
    .unwrap();
    let Begun::Existing(r) = a.begin(begin("C2", "d", "A", None)).await.unwrap() else {
        panic!("taken")
    };
    assert_eq!(r.state, IdemState::Unknown);
    assert_eq!(r.result, Some(json!({"maybe_running": true})));
}

async fn recovery_take_over_has_exactly_one_winner(backend: Backend) {
    let stores = instances(&backend, 3).await;
    let a = &stores[0];
    a.begin(begin("R1", "d", "dead", None)).await.unwrap();
    // A live lease cannot be taken over; an expired one can, by exactly one caller.
    assert!(
        !a.take_over(key("R1"), "dead".into(), NOW, lease("x", NOW + 60))
            .await
            .unwrap()
    );
    let after = NOW + 61;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = stores[i % 3].clone();
            tokio::spawn(async move {
                store
                    .take_over(
                        key("R1"),
                        "dead".into(),
                        after,
                        lease(&format!("r{i}"), after + 60),
                    )
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1, "{}: one recovery", backend.name());
    let r = stores[2].get(key("R1")).await.unwrap().unwrap();
    assert_eq!(r.state, IdemState::Pending);
    assert!(r.owner.starts_with('r') && r.in_flight(after));

    // Unknown: taken over at once, but only from its current owner.
    a.complete(key("R1"), IdemState::Unknown, None, after, None)
        .await
        .unwrap();
    assert!(
        !stores[1]
            .take_over(key("R1"), "dead".into(), after, lease("late", after + 60))
            .await
            .unwrap(),
        "the old owner's token no longer matches"
    );
    assert!(
        stores[1]
            .take_over(key("R1"), r.owner.clone(), after, lease("next", after + 60))
            .await
            .unwrap()
    );
    // Done never goes back.
    stores[1]
        .complete(key("R1"), IdemState::Done, Some(json!({})), after, None)
        .await
        .unwrap();
    assert!(
        !a.take_over(
            key("R1"),
            "next".into(),
            after + 999,
            lease("z", after + 1999)
        )
        .await
        .unwrap()
    );
}

async fn a_daily_limit_shared_by_three_instances_is_never_exceeded(backend: Backend) {
    let stores = instances(&backend, 3).await;
    const LIMIT: i64 = 1_000;
    // 40 different calls of 100 fen over three instances, half through `begin`, half through
    // `reserve_spend`: exactly ten fit.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = stores[i % 3].clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    match store
                        .begin(begin(&format!("L{i}"), "d", "o", Some((100, LIMIT))))
                        .await
                        .unwrap()
                    {
                        Begun::Claimed { .. } => true,
                        Begun::OverLimit { limit, spent } => {
                            assert!(spent <= limit);
                            false
                        }
                        other => panic!("{other:?}"),
                    }
                } else {
                    let spend = Spend {
                        provider: "pingpp".into(),
                        fen: 100,
                        daily_limit_fen: Some(LIMIT),
                        reference: format!("L{i}"),
                    };
                    matches!(
                        store.reserve_spend(spend, NOW).await.unwrap(),
                        Reservation::Reserved { .. }
                    )
                }
            })
        })
        .collect();
    let mut reserved = 0;
    for t in tasks {
        reserved += usize::from(t.await.unwrap());
    }
    let spent = stores[0]
        .spent_last_24h("pingpp".into(), NOW)
        .await
        .unwrap();
    eprintln!(
        "{}: 40 concurrent reservations of 100 fen over 3 instances under a 1000 fen limit → {reserved} reserved, {spent} fen spent",
        backend.name()
    );
    assert_eq!((reserved, spent), (10, LIMIT));
    // Refused claims left no record.
    let mut records = 0;
    for i in (0..40).step_by(2) {
        records += usize::from(
            stores[1]
                .get(key(&format!("L{i}")))
                .await
                .unwrap()
                .is_some(),
        );
    }
    assert!(records <= 10, "{records} claims recorded");
    // Another provider's limit is its own.
    let other = Spend {
        provider: "alipay".into(),
        fen: 1_000,
        daily_limit_fen: Some(LIMIT),
        reference: "A1".into(),
    };
    assert!(matches!(
        stores[2].reserve_spend(other, NOW).await.unwrap(),
        Reservation::Reserved {
            spent_before: 0,
            ..
        }
    ));
}

async fn reservations_roll_with_the_window_and_are_never_reused(backend: Backend) {
    let [a, b] = <[_; 2]>::try_from(instances(&backend, 2).await)
        .ok()
        .unwrap();
    let spend = |fen: i64, limit: Option<i64>| Spend {
        provider: "pingpp".into(),
        fen,
        daily_limit_fen: limit,
        reference: "W".into(),
    };
    let old = NOW - SPEND_WINDOW_SECS;
    let Reservation::Reserved { id: first, .. } =
        a.reserve_spend(spend(700, None), old).await.unwrap()
    else {
        panic!()
    };
    // 24 hours later to the second, the old spend has left the window.
    assert_eq!(b.spent_last_24h("pingpp".into(), NOW).await.unwrap(), 0);
    assert_eq!(
        b.spent_last_24h("pingpp".into(), NOW - 1).await.unwrap(),
        700
    );
    // Reaching the limit exactly is allowed; one fen more is not.
    let Reservation::Reserved { id: second, .. } = b
        .reserve_spend(spend(1_000, Some(1_000)), NOW)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(
        a.reserve_spend(spend(1, Some(1_000)), NOW).await.unwrap(),
        Reservation::OverLimit {
            spent: 1_000,
            limit: 1_000
        }
    );
    a.release_spend(second).await.unwrap();
    a.release_spend(second).await.unwrap();
    let Reservation::Reserved { id: third, .. } =
        b.reserve_spend(spend(1, Some(1_000)), NOW).await.unwrap()
    else {
        panic!()
    };
    assert!(
        third > second && second > first,
        "ids never reused: {first}, {second}, {third}"
    );
    assert_eq!(a.spent_last_24h("pingpp".into(), NOW).await.unwrap(), 1);
}

async fn pruning_drops_only_old_rows(backend: Backend) {
    let [a, b] = <[_; 2]>::try_from(instances(&backend, 2).await)
        .ok()
        .unwrap();
    let mut old = begin("P-old", "d", "o", None);
    old.now_unix = NOW - IDEM_RETENTION_SECS - 1;
    let mut fresh = begin("P-fresh", "d", "o", None);
    fresh.now_unix = NOW - IDEM_RETENTION_SECS;
    a.begin(old).await.unwrap();
    a.begin(fresh).await.unwrap();
    for at in [NOW - SPEND_RETENTION_SECS - 1, NOW - SPEND_RETENTION_SECS] {
        let spend = Spend {
            provider: "pingpp".into(),
            fen: 1,
            daily_limit_fen: None,
            reference: "p".into(),
        };
        a.reserve_spend(spend, at).await.unwrap();
    }
    assert_eq!(
        b.prune(NOW).await.unwrap(),
        Pruned {
            idempotency: 1,
            spend: 1
        }
    );
    assert!(a.get(key("P-old")).await.unwrap().is_none());
    assert!(a.get(key("P-fresh")).await.unwrap().is_some());
}

fn event(id: &str, object: &str, state: &str, rank: i64, at: i64) -> ReceivedEvent {
    ReceivedEvent {
        provider: "pingpp".into(),
        event_id: id.into(),
        event_type: format!("charge.{state}"),
        object_id: Some(object.into()),
        reference: Some("ORDER1".into()),
        amount_fen: Some(1_000),
        object_state: Some(state.into()),
        state_rank: rank,
        received_unix: at,
        raw_body: format!(r#"{{"id":"{id}","中文":"是"}}"#),
        verified: true,
        seq: 0,
    }
}

async fn events_are_stored_once_and_states_only_move_forward(backend: Backend) {
    let stores = instances(&backend, 3).await;
    // The same delivery arriving at three instances at once is stored once.
    let tasks: Vec<_> = (0..15)
        .map(|i| {
            let store = stores[i % 3].clone();
            tokio::spawn(async move {
                store
                    .record_event(event("evt_paid", "ch_1", "paid", 2, NOW))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut inserted = 0;
    for t in tasks {
        inserted += usize::from(t.await.unwrap() == Recorded::Inserted);
    }
    assert_eq!(inserted, 1, "{}: stored once", backend.name());
    // A late, lower-ranked event is stored but does not move the object back.
    assert_eq!(
        stores[1]
            .record_event(event("evt_created", "ch_1", "created", 1, NOW + 5))
            .await
            .unwrap(),
        Recorded::Inserted
    );
    let state = stores[2]
        .object_state("pingpp".into(), "ch_1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (state.state.as_str(), state.rank, state.event_id.as_str()),
        ("paid", 2, "evt_paid")
    );
    stores[0]
        .record_event(event("evt_refunded", "ch_1", "refunded", 3, NOW + 9))
        .await
        .unwrap();
    let state = stores[1]
        .object_state("pingpp".into(), "ch_1".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (state.state.as_str(), state.updated_unix),
        ("refunded", NOW + 9)
    );
    assert_eq!(state.reference.as_deref(), Some("ORDER1"));
    stores[0]
        .record_event(event("evt_other", "ch_2", "paid", 2, NOW + 10))
        .await
        .unwrap();

    // Newest first, filtered, paged.
    let all = stores[2]
        .list_events(EventFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        ids,
        ["evt_other", "evt_refunded", "evt_created", "evt_paid"]
    );
    assert!(all.windows(2).all(|w| w[0].seq > w[1].seq));
    let page = stores[1]
        .list_events(EventFilter {
            object_id: Some("ch_1".into()),
            before_seq: Some(all[1].seq),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].event_id, "evt_created");
    let since = stores[1]
        .list_events(EventFilter {
            provider: Some("pingpp".into()),
            event_type: Some("charge.paid".into()),
            since_unix: Some(NOW + 1),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!(since[0].event_id, "evt_other");
    let got = stores[0]
        .get_event("pingpp".into(), "evt_paid".into())
        .await
        .unwrap()
        .unwrap();
    let mut expected = event("evt_paid", "ch_1", "paid", 2, NOW);
    expected.seq = got.seq;
    assert_eq!(got, expected, "stored exactly as received");
    assert!(
        stores[0]
            .get_event("alipay".into(), "evt_paid".into())
            .await
            .unwrap()
            .is_none()
    );
}

async fn the_ticket_key_and_nonces_are_shared_by_every_instance(backend: Backend) {
    let stores = instances(&backend, 3).await;
    let first = stores[0].ticket_key(vec![1; 32]).await.unwrap();
    assert_eq!(first, vec![1; 32]);
    assert_eq!(
        stores[1].ticket_key(vec![2; 32]).await.unwrap(),
        first,
        "the second instance uses the first one's key"
    );
    // One nonce, used at once on three instances: accepted once.
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let store = stores[i % 3].clone();
            tokio::spawn(async move { store.use_nonce("n1".into(), NOW + 300, NOW).await.unwrap() })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap());
    }
    assert_eq!(accepted, 1, "{}: a nonce works once", backend.name());
    assert!(
        stores[2]
            .use_nonce("n2".into(), NOW + 300, NOW)
            .await
            .unwrap()
    );
    // Past its expiry a nonce may be forgotten (the ticket itself has expired by then).
    assert!(
        stores[1]
            .use_nonce("n1".into(), NOW + 900, NOW + 301)
            .await
            .unwrap()
    );
}

async fn concurrent_start_ups_migrate_once_and_a_newer_schema_is_refused(backend: Backend) {
    // Six instances opening a new database at the same moment all come up on one schema.
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let backend = backend.clone();
            tokio::spawn(async move { backend.open().await })
        })
        .collect();
    let mut stores = Vec::new();
    for t in opens {
        stores.push(t.await.unwrap());
    }
    stores[0].begin(begin("M1", "d", "o", None)).await.unwrap();
    for s in &stores {
        assert!(s.get(key("M1")).await.unwrap().is_some());
    }
    drop(stores);
    backend.age_schema().await;
    let error = backend.open_error().await;
    assert!(error.contains("newer than this build"), "{error}");
}
