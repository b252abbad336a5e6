package io.hotmem.tests;

import io.hotmem.HotplugListener;
import io.hotmem.PageAllocator;
import io.hotmem.RelocationProgress;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A remap of one zone running on its own thread, started and waited for until it reports its first pass: with a
 * pinned block in the zone it then keeps the zone draining (taking no blocks) until the pin closes or its 3 s pass.
 */
final class RemapInFlight {
    private final Thread thread;
    /** The remap's report, or what it threw. */
    final AtomicReference<Object> outcome = new AtomicReference<>();

    private RemapInFlight(PageAllocator a, int zoneId) {
        thread = new Thread(() -> {
            try {
                outcome.set(a.remap(zoneId, Duration.ofSeconds(3)));
            } catch (Throwable e) {
                outcome.set(e);
            }
        }, "remap-in-flight");
    }

    /** Starts a remap of {@code zoneId} and returns once it made its first pass. */
    static RemapInFlight start(PageAllocator a, int zoneId) throws InterruptedException {
        CountDownLatch passed = new CountDownLatch(1);
        a.addListener(new HotplugListener() {
            @Override
            public void onProgress(RelocationProgress progress) {
                passed.countDown();
            }
        });
        RemapInFlight r = new RemapInFlight(a, zoneId);
        r.thread.start();
        assertTrue(passed.await(10, TimeUnit.SECONDS), "the remap made no pass");
        return r;
    }

    /** Waits for the remap to end (close the pin it waits on first). */
    void join() throws InterruptedException {
        thread.join(10_000);
    }
}
