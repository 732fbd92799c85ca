"""rq's SimpleWorker for the scheduler tests, without its pub/sub listener.

rq 3.0 starts a listener thread for its worker commands (suspend, stop, kill-horse) with
``pubsub.run_in_thread(sleep_time=60)``; with redis-py 8, closing it at the end of
``work(burst=True)`` waits until the thread's ``get_message(timeout=60)`` returns, so a burst could
take a minute more, at random (not under load only). Jobs with short result TTLs expired meanwhile
and the RQ tests failed now and then. The tests send no worker commands: no listener."""

import rq


class SimpleWorker(rq.SimpleWorker):
    def subscribe(self) -> None:  # rq's Worker.subscribe: the command listener this test run does not need
        self.pubsub = None
        self.pubsub_thread = None
