"""small_pages(): numpy's 2 MB page advice is off inside and comes back as it was, across nesting and threads."""

import threading

from harbour.core import memory


def _advice_now() -> bool:
    """The current setting (reading it means setting it, so it is put straight back)."""
    before = memory._set_hugepage(True)
    memory._set_hugepage(before)
    return before


def test_advice_off_inside_and_restored_after() -> None:
    memory._set_hugepage(True)
    with memory.small_pages():
        assert _advice_now() is False
        with memory.small_pages():
            assert _advice_now() is False
        assert _advice_now() is False  # the inner exit does not turn it back on under the outer use
    assert _advice_now() is True


def test_a_setting_of_off_stays_off() -> None:
    memory._set_hugepage(False)
    try:
        with memory.small_pages():
            pass
        assert _advice_now() is False
    finally:
        memory._set_hugepage(True)


def test_overlapping_threads_restore_once_the_last_leaves() -> None:
    memory._set_hugepage(True)
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with memory.small_pages():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(5)
    with memory.small_pages():
        pass
    assert _advice_now() is False  # the other thread is still inside
    release.set()
    t.join()
    assert _advice_now() is True
