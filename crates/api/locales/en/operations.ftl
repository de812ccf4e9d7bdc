# Operations: queue depths and the organization's dead letters.
operations-title = Operations
operations-queues-caption = Queues (waiting and in flight are the deployment's; dead letters are this organization's)
operations-queue = Queue
operations-waiting = Waiting
operations-oldest-waiting = Oldest waiting
operations-in-flight = In flight
operations-dead-letters = Dead letters
dead-letters-of-queue = Dead letters of the { $queue } queue
dead-letter-last-error = Last error:
dead-letter-attempts = { $attempts ->
    [one] 1 attempt
   *[other] { $attempts } attempts
} · given up { $at }
dead-letter-payload = Payload
dead-letter-replay = Replay
dead-letter-delete = Delete
dead-letter-delete-confirm = Delete this dead letter for good?
dead-letters-showing-first = Showing the first { $count };
dead-letters-lists-all = lists them all.
dead-letter-replayed = The dead letter is back in its queue.
dead-letter-deleted = The dead letter was deleted.
