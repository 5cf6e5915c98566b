//! Produces every line of a file as one Kafka record, as fast as the broker takes them; for
//! `benches/kafka/run.sh`, which needs raw log lines in a topic to measure the Kafka input.
//!
//!   cargo run --release --example kafka_produce -- 127.0.0.1:19092 TOPIC FILE

use std::io::BufRead;
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [brokers, topic, file] = args.as_slice() else {
        return Err("usage: kafka_produce BROKERS TOPIC FILE".into());
    };
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("linger.ms", "20")
        .set("compression.type", "lz4")
        .create()?;
    let started = Instant::now();
    let (mut n, mut bytes) = (0u64, 0u64);
    for line in std::io::BufReader::new(std::fs::File::open(file)?).split(b'\n') {
        let line = line?;
        let mut record = BaseRecord::<(), [u8]>::to(topic).payload(&line);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
            }
        }
        producer.poll(Duration::ZERO);
        n += 1;
        bytes += line.len() as u64;
    }
    producer.flush(Duration::from_secs(120))?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "produced {n} records ({:.1} MB) in {secs:.1} s",
        bytes as f64 / 1e6
    );
    Ok(())
}
