from nndl._progress import _current, progress_session, task, track


def test_tasks_join_the_session_display_and_leave_it():
    with progress_session():
        display = _current.get()
        with task("outer", 2) as bar:
            assert len(display.tasks) == 1
            assert list(track(range(3), "inner")) == [0, 1, 2]
            bar.advance()
        assert display.tasks == []  # both bars removed once done


def test_show_false_never_draws_even_inside_a_session():
    with progress_session(), task("rank 1", 5, show=False) as bar:
        assert _current.get().tasks == []
        bar.advance()  # a no-op handle


def test_outside_a_session_nothing_is_drawn_unless_asked():
    assert _current.get() is None
    with task("quiet", 3) as bar:  # stderr is not a terminal under pytest
        bar.advance()
        bar.status("ok")
