package io.hotmem;

/**
 * Told about node transitions (Linux memory notifier: GOING_OFFLINE, CANCEL_OFFLINE, OFFLINE, ONLINE). Every
 * method has an empty default, so a listener overrides what it needs. Calls come from the thread that runs the
 * transition, with the allocator's control lock held: a listener may free or read allocations, but should not
 * start another node transition.
 */
public interface HotplugListener {

    /**
     * The node is disabled and about to be drained and unplugged. Free caches held on it now. Throwing vetoes the
     * offline: the node goes back to its previous state and {@link #onCancelOffline(int)} follows.
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
