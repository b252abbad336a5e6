package io.hotmem.tests;

import io.hotmem.PageAllocator;

import java.util.List;
import java.util.Queue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/** The two halves every test of calls racing close shares: close while the racers run, then the verdict. */
final class CloseRacing {
    private CloseRacing() {
    }

    /**
     * Waits until the racers are {@code going}, lets them run {@code millis} ms, closes {@code a}, sets
     * {@code closed}, and waits for every racer (up to {@code joinMillis} each).
     */
    static void closeWhileRunning(PageAllocator a, CountDownLatch going, long millis, AtomicBoolean closed,
                                  List<Thread> racers, long joinMillis) throws InterruptedException {
        going.await();
        Thread.sleep(millis);
        a.close();
        closed.set(true);
        for (Thread t : racers) {
            t.join(joinMillis);
        }
    }

    /**
     * @return whether a cause of {@code e} is one no call racing close may meet (the engine tripping over what close
     *         took away, instead of reporting it closed)
     */
    static boolean hasBadCause(Throwable e) {
        for (Throwable c = e.getCause(); c != null; c = c.getCause()) {
            if (c instanceof NullPointerException || c instanceof IndexOutOfBoundsException
                    || c instanceof ClassCastException) {
                return true;
            }
        }
        return false;
    }

    /**
     * Adds to {@code found} the close-race verdict on {@code e}, which a racer caught: an IllegalStateException or
     * AllocationFailedException is fine unless {@link #hasBadCause}; anything else is bad.
     */
    static void judge(Throwable e, Queue<Throwable> found) {
        if (!(e instanceof IllegalStateException || e instanceof io.hotmem.AllocationFailedException)
                || hasBadCause(e)) {
            found.add(e);
        }
    }

    /** Fails with the first of {@code found} (and how many there were) unless it is empty. */
    static void assertNoneFound(Queue<Throwable> found, int rounds) {
        if (!found.isEmpty()) {
            Throwable first = found.peek();
            throw new AssertionError(found.size() + " bad exceptions in " + rounds + " rounds; first: " + first,
                    first);
        }
    }
}
