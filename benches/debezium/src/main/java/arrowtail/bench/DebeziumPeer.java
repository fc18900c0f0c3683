// The Debezium side of arrowtail's live benchmarks: Debezium's embedded engine with its PostgreSQL
// connector (pgoutput plugin) reads a replication slot, and every change event's JSON value goes to
// Kafka with a KafkaProducer configured like arrowtail's Kafka sink (idempotent, acks=all, zstd).
//
// Usage: java -cp ... arrowtail.bench.DebeziumPeer CONFIG.properties
// The properties file holds the engine's settings (connector, database, slot, publication,
// snapshot mode, offset file) plus three of this program's own:
//   peer.bootstrap  Kafka bootstrap servers
//   peer.expected   stop after this many messages were delivered (0: run until killed)
//   peer.ready      a file created once the engine has started its connector task
// On exit it prints one line of JSON: {"events": N, "seconds": S} (seconds from the first event
// to the last delivery report).
package arrowtail.bench;

import io.debezium.engine.ChangeEvent;
import io.debezium.engine.DebeziumEngine;
import io.debezium.engine.format.Json;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

public final class DebeziumPeer {
    private DebeziumPeer() {}

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (InputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        String bootstrap = (String) props.remove("peer.bootstrap");
        long expected = Long.parseLong((String) props.remove("peer.expected"));
        String ready = (String) props.remove("peer.ready");

        Properties producerProps = new Properties();
        producerProps.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        producerProps.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        producerProps.put(ProducerConfig.ACKS_CONFIG, "all");
        producerProps.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "zstd");
        producerProps.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        producerProps.put(ProducerConfig.BATCH_SIZE_CONFIG, "1000000");
        producerProps.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        producerProps.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class);
        KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps);

        AtomicLong delivered = new AtomicLong();
        AtomicLong firstNanos = new AtomicLong();
        AtomicLong lastNanos = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch done = new CountDownLatch(1);

        DebeziumEngine.ChangeConsumer<ChangeEvent<String, String>> consumer =
                (List<ChangeEvent<String, String>> records,
                        DebeziumEngine.RecordCommitter<ChangeEvent<String, String>> committer) -> {
                    for (ChangeEvent<String, String> record : records) {
                        // A delete's tombstone (null value) is a message too, as in arrowtail.
                        firstNanos.compareAndSet(0, System.nanoTime());
                        producer.send(
                                new ProducerRecord<>(record.destination(), record.key(), record.value()),
                                (meta, err) -> {
                                    if (err != null) {
                                        failure.compareAndSet(null, err);
                                        done.countDown();
                                        return;
                                    }
                                    lastNanos.set(System.nanoTime());
                                    if (delivered.incrementAndGet() == expected) {
                                        done.countDown();
                                    }
                                });
                        committer.markProcessed(record);
                    }
                    committer.markBatchFinished();
                };

        DebeziumEngine<ChangeEvent<String, String>> engine =
                DebeziumEngine.create(Json.class)
                        .using(props)
                        .notifying(consumer)
                        .using(new DebeziumEngine.ConnectorCallback() {
                            @Override
                            public void taskStarted() {
                                touch(ready);
                            }
                        })
                        .using((success, message, error) -> {
                            if (!success) {
                                failure.compareAndSet(
                                        null, error != null ? error : new IllegalStateException(message));
                            }
                            done.countDown();
                        })
                        .build();
        ExecutorService executor = Executors.newSingleThreadExecutor();
        executor.execute(engine);
        if (expected > 0) {
            done.await();
        } else {
            done.await(Long.MAX_VALUE, TimeUnit.DAYS);
        }
        producer.flush();
        long seconds = lastNanos.get() - firstNanos.get();
        System.out.println(
                "{\"events\": " + delivered.get() + ", \"seconds\": " + seconds / 1e9 + "}");
        System.out.flush();
        Throwable err = failure.get();
        if (err != null) {
            err.printStackTrace();
            Runtime.getRuntime().halt(1);
        }
        // Closing the engine flushes offsets and stops the task; the run's figures are already out.
        engine.close();
        producer.close();
        executor.shutdown();
        executor.awaitTermination(30, TimeUnit.SECONDS);
        Runtime.getRuntime().halt(0);
    }

    private static void touch(String path) {
        if (path == null || path.isEmpty()) {
            return;
        }
        try {
            Files.writeString(Path.of(path), "started\n");
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + path, e);
        }
    }
}
