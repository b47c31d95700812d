//! Times the bill reader alone on a ZIP file: `cargo run --release -p zhifu-runtime --example bill_reader -- BILL.zip [OUT.csv]`.

use std::time::Instant;

use zhifu_runtime::composite::bill_file::{self, BillKind, GroupBy, Options};

fn main() {
    let mut args = std::env::args().skip(1);
    let zip = args.next().expect("a bill ZIP");
    let out = args.next().unwrap_or_else(|| "/dev/null".into());
    let options = Options {
        kind: BillKind::Trade,
        group_by: GroupBy::Product,
        flag_above: None,
    };
    for _ in 0..3 {
        let t = Instant::now();
        let file = std::fs::File::open(&zip).unwrap();
        let mut sink = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
        let s = bill_file::summarize(file, &options, &mut sink, &mut |_| true).unwrap();
        println!(
            "{:.3} s, {} rows, gross {}",
            t.elapsed().as_secs_f64(),
            s.rows,
            s.total.in_fen
        );
    }
}
