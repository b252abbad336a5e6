package io.hotmem;

/**
 * Progress of a running remap, drain or offline, sent to {@link HotplugListener#onProgress} at most every
 * 50 ms and once at the end of each pass.
 *
 * @param operation  what runs, e.g. {@code "drain node 1"}
 * @param pass       the pass, from 0 (the fast pass)
 * @param movedBlocks blocks moved so far
 * @param movedBytes bytes of the blocks moved so far
 * @param totalBytes bytes in use in the zones being emptied when the operation started
 */
public record RelocationProgress(String operation, int pass, long movedBlocks, long movedBytes, long totalBytes) {

    /**
     * Returns e.g. {@code drain node 1: 120.0 MiB of 256.0 MiB moved (46%), pass 0}.
     *
     * @return e.g. {@code drain node 1: 120.0 MiB of 256.0 MiB moved (46%), pass 0}
     */
    @Override
    public String toString() {
        long percent = totalBytes == 0 ? 100 : Math.min(100, movedBytes * 100 / totalBytes);
        return operation + ": " + RelocationReport.humanBytes(movedBytes) + " of "
                + RelocationReport.humanBytes(totalBytes) + " moved (" + percent + "%), pass " + pass;
    }
}
