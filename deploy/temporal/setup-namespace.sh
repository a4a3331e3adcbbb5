#!/bin/sh
# One-shot job (temporalio/admin-tools image): once the Temporal server answers, create prsaga's
# namespace if it does not exist and register prsaga's custom search attributes in it. Safe to
# run on every start: an existing namespace is left alone, and registering an attribute that
# already exists with the same type succeeds (with another type it fails, loudly).
#
#   TEMPORAL_ADDRESS      host:port of the frontend (read by the temporal CLI itself)
#   NAMESPACE             the namespace prsaga runs in (PRSAGA_TEMPORAL_NAMESPACE)
#   NAMESPACE_RETENTION   how long closed workflows are kept, for a new namespace (default 7d)
#   SEARCH_ATTRIBUTES     space-separated Name=Type pairs (the format of `temporal server
#                         start-dev --search-attribute`), e.g. "PrNumber=Int ReviewState=Keyword"
#   SETUP_TIMEOUT_SECONDS how long to wait for the server and the namespace (default 120)
set -eu

: "${TEMPORAL_ADDRESS:?}" "${NAMESPACE:?}" "${SEARCH_ATTRIBUTES:?}"
: "${NAMESPACE_RETENTION:=7d}"
: "${SETUP_TIMEOUT_SECONDS:=120}"

# wait_for <what> <command...>: retry the command once a second until it succeeds; on timeout,
# run it once more with its output shown, so that the job's log says why, and fail.
wait_for() {
    what=$1
    shift
    waited=0
    until "$@" >/dev/null 2>&1; do
        if [ "$waited" -ge "$SETUP_TIMEOUT_SECONDS" ]; then
            echo "Timed out after ${waited}s waiting for $what" >&2
            "$@" || true
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
}

wait_for "the Temporal server at $TEMPORAL_ADDRESS" temporal operator cluster health

if temporal operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
    echo "Namespace $NAMESPACE exists"
else
    temporal operator namespace create --namespace "$NAMESPACE" --retention "$NAMESPACE_RETENTION"
fi
# A new namespace reaches the frontend's namespace cache a few seconds after it is created.
wait_for "namespace $NAMESPACE" temporal operator search-attribute list --namespace "$NAMESPACE"

for pair in $SEARCH_ATTRIBUTES; do
    name=${pair%%=*}
    type=${pair#*=}
    temporal operator search-attribute create --namespace "$NAMESPACE" --name "$name" --type "$type"
done
echo "Namespace $NAMESPACE is ready: search attributes $SEARCH_ATTRIBUTES"
