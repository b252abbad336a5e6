package io.hotmem.internal;

import io.hotmem.HotplugListener;
import io.hotmem.RelocationProgress;

import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.ObjIntConsumer;

/**
 * The allocator's {@link HotplugListener}s and their dispatch, with errors isolated: every listener is called
 * even when one before it throws.
 * <ul>
 *   <li>A {@link RuntimeException} from {@code onGoingOffline} is a veto ({@link #goingOffline}); from any other
 *       callback it is logged and otherwise ignored.</li>
 *   <li>An {@link Error} (an {@link OutOfMemoryError} or an {@link AssertionError} among them) is never swallowed
 *       nor read as a veto: from {@code onGoingOffline} it ends the offline (which rolls back, then rethrows it);
 *       from any other callback the remaining listeners are still called, and the first Error is rethrown to the
 *       caller of the operation once the operation's state change is complete.</li>
 * </ul>
 * Calls come on the thread that runs the transition, with the control lock held; a callback that starts another
 * node transition, relocation or close gets {@link IllegalStateException} ({@link NodeLifecycle}).
 */
final class Listeners {
    private final String allocatorName;
    private final List<HotplugListener> listeners = new CopyOnWriteArrayList<>();

    Listeners(String allocatorName) {
        this.allocatorName = allocatorName;
    }

    void add(HotplugListener l) {
        listeners.add(Objects.requireNonNull(l, "listener"));
    }

    void remove(HotplugListener l) {
        listeners.remove(Objects.requireNonNull(l, "listener"));
    }

    /**
     * Asks every listener whether {@code node} may go offline, stopping at the first that throws.
     *
     * @return null when none objected; the {@link RuntimeException} of a veto; or the {@link Error} one threw
     */
    Throwable goingOffline(int node) {
        return ask(node, HotplugListener::onGoingOffline, "onGoingOffline", "offline of node " + node,
                "the offline is cancelled");
    }

    /**
     * Asks every listener whether {@code node} may come online (plug or enable), stopping at the first that throws.
     *
     * @return null when none objected; the {@link RuntimeException} of a veto; or the {@link Error} one threw
     */
    Throwable goingOnline(int node) {
        return ask(node, HotplugListener::onGoingOnline, "onGoingOnline", "node " + node + " coming online",
                "the node stays as it is");
    }

    /** Asks every listener through {@code call}, stopping at the first that throws (a veto, or an Error). */
    private Throwable ask(int node, ObjIntConsumer<HotplugListener> call, String method, String what,
                          String onError) {
        for (HotplugListener l : listeners) {
            try {
                call.accept(l, node);
            } catch (RuntimeException e) {
                Telemetry.LOG.log(System.Logger.Level.WARNING, allocatorName + ": " + what + " vetoed by " + l, e);
                return e;
            } catch (Error e) {
                Telemetry.LOG.log(System.Logger.Level.ERROR, allocatorName + ": listener " + l + " failed in "
                        + method + "(" + node + "); " + onError, e);
                return e;
            }
        }
        return null;
    }

    /** @return the first Error a listener threw (the rest logged), or null */
    Error onCancelOnline(int node) {
        return notify(node, HotplugListener::onCancelOnline, "onCancelOnline");
    }

    /** @return the first Error a listener threw (the rest logged), or null */
    Error onCancelOffline(int node) {
        return notify(node, HotplugListener::onCancelOffline, "onCancelOffline");
    }

    /** @return the first Error a listener threw (the rest logged), or null */
    Error onOffline(int node) {
        return notify(node, HotplugListener::onOffline, "onOffline");
    }

    /** @return the first Error a listener threw (the rest logged), or null */
    Error onOnline(int node) {
        return notify(node, HotplugListener::onOnline, "onOnline");
    }

    /** @return the first Error a listener threw (the rest logged), or null */
    Error onProgress(RelocationProgress p) {
        Error first = null;
        for (HotplugListener l : listeners) {
            try {
                l.onProgress(p);
            } catch (RuntimeException e) {
                Telemetry.LOG.log(System.Logger.Level.WARNING, allocatorName + ": listener " + l
                        + " threw from onProgress", e);
            } catch (Error e) {
                first = first(first, e, l, "onProgress");
            }
        }
        return first;
    }

    private Error notify(int node, ObjIntConsumer<HotplugListener> call, String what) {
        Error first = null;
        for (HotplugListener l : listeners) {
            try {
                call.accept(l, node);
            } catch (RuntimeException e) {
                Telemetry.LOG.log(System.Logger.Level.WARNING, allocatorName + ": listener " + l + " threw from "
                        + what + "(" + node + ")", e);
            } catch (Error e) {
                first = first(first, e, l, what);
            }
        }
        return first;
    }

    private Error first(Error first, Error e, HotplugListener l, String what) {
        Telemetry.LOG.log(System.Logger.Level.ERROR, allocatorName + ": listener " + l + " failed in " + what, e);
        if (first == null) {
            return e;
        }
        first.addSuppressed(e);
        return first;
    }

    /** Throws {@code e} when it is not null. */
    static void rethrow(Error e) {
        if (e != null) {
            throw e;
        }
    }
}
