package io.hotmem;

/**
 * Told about node transitions (Linux memory notifier: GOING_ONLINE, CANCEL_ONLINE, ONLINE, GOING_OFFLINE,
 * CANCEL_OFFLINE, OFFLINE). Every
 * method has an empty default, so a listener overrides what it needs. Calls come from the thread that runs the
 * transition, with the allocator's control lock held: a listener may allocate, free, read and write, but a node
 * transition, remap, drain, offline or close started from a callback throws {@link IllegalStateException}.
 *
 * <p><b>Exceptions.</b> A {@link RuntimeException} from {@link #onGoingOffline} vetoes the offline, and one from
 * {@link #onGoingOnline} vetoes the plug or enable (which then throws {@link IllegalStateException}); from any
 * other method it is logged and ignored. An {@link Error} is never swallowed: from {@code onGoingOffline} or
 * {@code onGoingOnline} it cancels the transition (the node keeps or gets back its previous state, the matching
 * {@code onCancel...} follows) and is rethrown by the operation; from any other method the remaining listeners are still called and the operation's change
 * stands, then the first Error is rethrown to the operation's caller.
 */
public interface HotplugListener {

    /**
     * The node is disabled and about to be drained and unplugged. Free caches held on it now. Throwing a
     * RuntimeException vetoes the offline: the node goes back to its previous state and
     * {@link #onCancelOffline(int)} follows.
     *
     * @param node the node id
     */
    default void onGoingOffline(int node) {
    }

    /**
     * An offline failed or was vetoed before its commit point; the node is back in its previous state.
     *
     * @param node the node id
     */
    default void onCancelOffline(int node) {
    }

    /**
     * The node was unplugged by an offline; its memory is gone.
     *
     * @param node the node id
     */
    default void onOffline(int node) {
    }

    /**
     * The node is about to come online: to be plugged (given its memory) or enabled (opened to allocation), by an
     * operator or by the capacity governor. Throwing a RuntimeException vetoes it: the node keeps its state,
     * {@link #onCancelOnline(int)} follows, and the governor backs off before it tries again.
     *
     * @param node the node id
     */
    default void onGoingOnline(int node) {
    }

    /**
     * A plug or enable was vetoed; the node kept its state.
     *
     * @param node the node id
     */
    default void onCancelOnline(int node) {
    }

    /**
     * The node was enabled and serves allocations.
     *
     * @param node the node id
     */
    default void onOnline(int node) {
    }

    /**
     * A remap, drain or offline made progress. Called on the relocating thread at most every 50 ms and at the end
     * of each pass; keep it short.
     *
     * @param progress what has moved so far
     */
    default void onProgress(RelocationProgress progress) {
    }
}
