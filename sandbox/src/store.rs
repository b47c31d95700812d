//! In-memory state of one sandbox: tables of objects in creation order, the clock, ids and the
//! event log (Ping++), and the Alipay state that shares the clock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng as _;
use serde_json::{Value, json};

use crate::pingpp::batch_refunds::BatchRefund;
use crate::pingpp::batch_transfers::BatchTransfer;
use crate::pingpp::charges::Charge;
use crate::pingpp::customers::Customer;
use crate::pingpp::events::Event;
use crate::pingpp::failures::Failures;
use crate::pingpp::recharges::Recharge;
use crate::pingpp::red_envelopes::RedEnvelope;
use crate::pingpp::refunds::Refund;
use crate::pingpp::transfers::Transfer;
use crate::pingpp::users::{BalanceTransaction, User};

/// `n` random ASCII letters and digits (ids and keys: `ch_` + 24, `app_` + 16, …).
pub fn alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// `n` random decimal digits, the first one non-zero.
pub fn digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n)
        .map(|i| char::from(b'0' + rng.random_range(if i == 0 { 1..10 } else { 0..10 })))
        .collect()
}

/// Locks shared state; a panic in another request never wedges the sandbox.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Real Unix time in seconds (used for signature timestamps, which come from the client's clock).
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Something kept in a [`Table`].
pub trait Record {
    fn id(&self) -> &str;
}

/// Objects in creation order with an id index. Newest-first iteration is the listing order, so
/// objects created within the same second still list in a stable order.
pub struct Table<T> {
    items: Vec<T>,
    index: HashMap<String, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: Record> Table<T> {
    pub fn insert(&mut self, item: T) {
        self.index.insert(item.id().to_string(), self.items.len());
        self.items.push(item);
    }

    pub fn get(&self, id: &str) -> Option<&T> {
        self.index.get(id).map(|&i| &self.items[i])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.index.get(id).map(|&i| &mut self.items[i])
    }

    /// The items created after the first `n`, oldest first.
    pub fn since(&self, n: usize) -> &[T] {
        &self.items[n.min(self.items.len())..]
    }

    pub fn newest_first(&self) -> impl Iterator<Item = &T> {
        self.items.iter().rev()
    }
}

/// All objects of one sandbox. Locked as a whole for each request: handlers are synchronous.
pub struct Store {
    pub app_id: String,
    pub app_created: i64,
    /// Seconds added to the real clock (`POST /_sandbox/clock`), to expire windows in tests.
    clock_offset: i64,
    pub charges: Table<Charge>,
    /// order_no → id of the latest charge that used it (charge de-duplication, pingpp.md §7).
    pub order_nos: HashMap<String, String>,
    pub refunds: Table<Refund>,
    pub customers: Table<Customer>,
    pub recharges: Table<Recharge>,
    pub events: Table<Event>,
    /// Transfers, of their own and of batches.
    pub transfers: Table<Transfer>,
    /// order_no → id of a transfer of its own (de-duplication).
    pub transfer_order_nos: HashMap<String, String>,
    pub batch_transfers: Table<BatchTransfer>,
    /// batch_no → id.
    pub batch_transfer_nos: HashMap<String, String>,
    pub batch_refunds: Table<BatchRefund>,
    /// batch_no → id.
    pub batch_refund_nos: HashMap<String, String>,
    pub red_envelopes: Table<RedEnvelope>,
    /// order_no → id.
    pub red_envelope_order_nos: HashMap<String, String>,
    pub users: Table<User>,
    pub balance_transactions: Table<BalanceTransaction>,
    /// Channel refusals injected through `/_sandbox/failures`.
    pub failures: Failures,
    /// Charges kept unpaid or failed (`/_sandbox/charge_fates`).
    pub charge_fates: crate::pingpp::charge_fates::Fates,
    pub alipay: crate::alipay::AlipayStore,
    /// Webhooks and notifications on their way to the merchant (deliver.rs).
    pub deliveries: crate::deliver::Deliveries,
}

impl Store {
    pub fn new(app_id: String) -> Self {
        Self {
            app_id,
            app_created: unix_now(),
            clock_offset: 0,
            charges: Table::default(),
            order_nos: HashMap::new(),
            refunds: Table::default(),
            customers: Table::default(),
            recharges: Table::default(),
            events: Table::default(),
            transfers: Table::default(),
            transfer_order_nos: HashMap::new(),
            batch_transfers: Table::default(),
            batch_transfer_nos: HashMap::new(),
            batch_refunds: Table::default(),
            batch_refund_nos: HashMap::new(),
            red_envelopes: Table::default(),
            red_envelope_order_nos: HashMap::new(),
            users: Table::default(),
            balance_transactions: Table::default(),
            failures: Failures::default(),
            charge_fates: Default::default(),
            alipay: Default::default(),
            deliveries: Default::default(),
        }
    }

    /// The sandbox's clock: real time plus the offset tests may add.
    pub fn now(&self) -> i64 {
        unix_now() + self.clock_offset
    }

    /// Moves the sandbox clock forward (never back, so creation order stays time order).
    pub fn advance_clock(&mut self, seconds: i64) -> i64 {
        self.clock_offset += seconds.max(0);
        self.now()
    }

    /// Sets the offset from real time outright, backwards too (e.g. `-86400` to do business
    /// "yesterday", then `0` to return). Request timestamps are still checked against real time;
    /// objects created later may carry earlier times than older ones.
    pub fn set_clock_offset(&mut self, seconds: i64) -> i64 {
        self.clock_offset = seconds;
        self.now()
    }

    /// The app object returned for `expand[]=app`.
    pub fn app_json(&self) -> Value {
        json!({
            "id": self.app_id,
            "object": "app",
            "created": self.app_created,
            "livemode": false,
            "name": "zhifu sandbox app",
        })
    }
}
