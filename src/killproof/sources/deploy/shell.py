"""A small POSIX shell reader: the simple commands of a script, as the shell splits them.

Enough of the shell grammar to tell what runs last and how: quotes (``'…'``, ``"…"``,
``$'…'``), backslashes and line continuations, ``$(…)``/backticks/``${…}``, comments,
redirections (here-documents skipped), the operators ``; & && || |`` and newlines, and the
compound commands (``if``/``while``/``until``/``for``/``case``/``{ }``/``( )`` and function
bodies), whose contents sit one level down. ``nginx -g 'daemon off;'`` is one command.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_OPERATORS = ("&&", "||", ";;", ";&", "|&", ";", "&", "|", "(", ")", "\n")
_OPENERS = {"if": "fi", "while": "done", "until": "done", "for": "done", "select": "done"}
_CLOSERS = {"fi", "done", "esac", "}"}
_PREFIXES = {"then", "do", "else", "elif", "!", "time"}


@dataclass(frozen=True)
class Command:
    """One simple command: its words (quotes removed), 1-based line and nesting depth.

    ``before``/``after`` are the operators around it (``""`` at the script's ends,
    ``"\\n"`` for a newline); ``redirected`` is true when it has a redirection.
    """

    words: tuple[str, ...]
    line: int
    depth: int
    before: str = ""
    after: str = ""
    redirected: bool = False

    @property
    def argv(self) -> tuple[str, ...]:
        """The words after leading ``NAME=value`` assignments."""
        index = 0
        while index < len(self.words) and _is_assignment(self.words[index]):
            index += 1
        return self.words[index:]

    @property
    def name(self) -> str:
        """The basename of what it runs (``""`` for a bare assignment)."""
        argv = self.argv
        return argv[0].rsplit("/", 1)[-1] if argv else ""

    @property
    def text(self) -> str:
        """The words joined by spaces (for messages)."""
        return " ".join(self.words)


@dataclass(frozen=True)
class Item:
    """One top-level item of a script: a simple command, or a whole compound command."""

    command: Command | None
    """None for a compound command (loop, if, group, subshell, function definition)."""
    line: int
    kind: str = "simple"
    """``simple``, or the compound's opening word (``while``, ``if``, ``{``, ``(``, ``()``)."""


@dataclass(frozen=True)
class ShellScript:
    """Every simple command (any depth) and the top-level items, in order."""

    commands: tuple[Command, ...] = ()
    items: tuple[Item, ...] = ()
    functions: frozenset[str] = frozenset()
    """Names of the functions the script defines (calling them runs shell code)."""

    @property
    def last(self) -> Item | None:
        """The top-level item that runs last (None for an empty script)."""
        return self.items[-1] if self.items else None


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and name.replace("_", "a").isalnum() and not name[:1].isdigit()


@dataclass
class _State:
    """The reader's position and what it has built so far."""

    text: str
    i: int = 0
    line: int = 1
    words: list[str] = field(default_factory=list)
    word: list[str] | None = None
    word_line: int = 0
    cmd_line: int = 0
    redirected: bool = False
    redirect_target: bool = False
    heredocs: list[tuple[str, bool]] = field(default_factory=list)
    before: str = ""
    stack: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    open_item: tuple[str, int] | None = None
    pending_function: bool = False
    functions: set[str] = field(default_factory=set)


def parse_shell(text: str) -> ShellScript:
    """Split ``text`` into commands; never raises (unbalanced input ends where it ends)."""
    st = _State(text)
    n = len(text)
    while st.i < n:
        c = text[st.i]
        if c == "\\" and st.i + 1 < n:
            if text[st.i + 1] == "\n":
                st.i += 2
                st.line += 1
                continue
            _add(st, text[st.i + 1])
            st.i += 2
        elif c in " \t\r":
            _end_word(st)
            st.i += 1
        elif c == "#" and st.word is None:
            while st.i < n and text[st.i] != "\n":
                st.i += 1
        elif c == "'":
            end = text.find("'", st.i + 1)
            end = n if end < 0 else end
            _add(st, text[st.i + 1 : end])
            st.line += text.count("\n", st.i, end)
            st.i = end + 1
        elif c == '"':
            _double(st)
        elif c == "$" and st.i + 1 < n and text[st.i + 1] in "({'":
            _dollar(st)
        elif c == "`":
            end = st.i + 1
            while end < n and text[end] != "`":
                end += 2 if text[end] == "\\" else 1
            _add(st, text[st.i : end + 1])
            st.line += text.count("\n", st.i, min(end, n))
            st.i = end + 1
        elif c in "<>":
            _redirect(st)
        elif (op := next((o for o in _OPERATORS if text.startswith(o, st.i)), None)) is not None:
            st.i += len(op)
            _operator(st, op)
        else:
            _add(st, c)
            st.i += 1
    _end_word(st)
    _end_command(st, "")
    if st.open_item is not None:  # an unclosed compound still ran
        st.items.append(Item(None, st.open_item[1], st.open_item[0]))
    return ShellScript(tuple(st.commands), tuple(st.items), frozenset(st.functions))


def _add(st: _State, chars: str) -> None:
    if st.word is None:
        st.word = []
        st.word_line = st.line
    st.word.append(chars)


def _end_word(st: _State) -> None:
    if st.word is None:
        return
    word = "".join(st.word)
    st.word = None
    if st.redirect_target:
        st.redirect_target = False
        if st.heredocs and st.heredocs[-1][0] == "":
            st.heredocs[-1] = (word, st.heredocs[-1][1])
        return
    if not st.words:
        st.cmd_line = st.word_line
    st.words.append(word)


def _double(st: _State) -> None:
    text, n = st.text, len(st.text)
    j = st.i + 1
    out: list[str] = []
    while j < n and text[j] != '"':
        if text[j] == "\\" and j + 1 < n:
            out.append(text[j + 1] if text[j + 1] in '"\\$`' else text[j : j + 2])
            j += 2
        elif text.startswith("$(", j):
            end = _matching(text, j + 1)
            out.append(text[j:end])
            j = end
        else:
            out.append(text[j])
            j += 1
    _add(st, "".join(out))
    st.line += text.count("\n", st.i, j)
    st.i = j + 1


def _dollar(st: _State) -> None:
    text = st.text
    if text[st.i + 1] == "'":
        end = st.i + 2
        while end < len(text) and text[end] != "'":
            end += 2 if text[end] == "\\" else 1
        _add(st, text[st.i + 2 : end])
        st.line += text.count("\n", st.i, end)
        st.i = end + 1
        return
    end = _matching(text, st.i + 1)
    _add(st, text[st.i : end])
    st.line += text.count("\n", st.i, end)
    st.i = end


def _matching(text: str, open_at: int) -> int:
    """The index after the bracket closing the ``(`` or ``{`` at ``open_at`` (quotes kept)."""
    opener = text[open_at]
    closer = ")" if opener == "(" else "}"
    depth, j, n = 0, open_at, len(text)
    while j < n:
        ch = text[j]
        if ch == "\\":
            j += 2
            continue
        if ch in "'\"":
            end = text.find(ch, j + 1)
            j = n if end < 0 else end + 1
            continue
        if ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return n


def _redirect(st: _State) -> None:
    text = st.text
    if st.word is not None and "".join(st.word).isdigit():  # 2>/dev/null: the fd
        st.word = None
    else:
        _end_word(st)
    j = st.i + 1
    heredoc = text.startswith("<<", st.i) and not text.startswith("<<<", st.i)
    while j < len(text) and text[j] in "<>&|-":
        j += 1
    st.i = j
    st.redirected = True
    st.redirect_target = True
    if heredoc:
        st.heredocs.append(("", text[j - 1] == "-"))


def _operator(st: _State, op: str) -> None:
    _end_word(st)
    if op in ("&&", "||", "(", ")") and "[[" in st.words and "]]" not in st.words:
        st.words.append(op)  # `[[ $a != 0 || $b != 0 ]]`: one test command, not two
        return
    if op == "|" and st.stack and st.stack[-1] == "case-pattern":
        st.words = []  # `a|b)`: alternatives of one pattern
        return
    at_start = all(w in _OPENERS or w in _PREFIXES for w in st.words)
    if op == "(" and at_start and st.text.startswith("(", st.i):
        end = st.text.find("))", st.i)  # ((arithmetic)): a builtin command
        end = len(st.text) if end < 0 else end
        if not st.words:
            st.cmd_line = st.line
        st.line += st.text.count("\n", st.i, end)
        st.i = end + 2
        st.words = [*st.words, "(("]
        return
    if op == "(":
        if (
            len(st.words) == 1
            and not st.words[0].endswith("=")  # `args=()`: an empty array, not a function
            and st.text.startswith(")", _skip_blank(st))
        ):
            st.i = _skip_blank(st) + 1  # name() { …; }: a function definition
            st.functions.add(st.words[0])
            st.words = []
            st.pending_function = True
            return
        if not st.words:
            _open(st, "(", ")")
            return
    if op == ")" and not st.words and st.stack and st.stack[-1] == ")":
        _close(st)
        return
    if op == ")" and st.stack and st.stack[-1] == "case-pattern":
        st.words = []  # the pattern of a case branch is not a command
        st.stack[-1] = "case-body"
        st.before = ""
        return
    _end_command(st, op)
    if op in (";;", ";&") and st.stack and st.stack[-1] == "case-body":
        st.stack[-1] = "case-pattern"
    if op == "\n":
        st.line += 1
        _skip_heredocs(st)


def _skip_blank(st: _State) -> int:
    j = st.i
    while j < len(st.text) and st.text[j] in " \t":
        j += 1
    return j


def _skip_heredocs(st: _State) -> None:
    text = st.text
    for delimiter, strip_tabs in st.heredocs:
        while st.i < len(text):
            end = text.find("\n", st.i)
            end = len(text) if end < 0 else end
            body = text[st.i : end]
            st.i = end + 1
            st.line += 1
            if (body.lstrip("\t") if strip_tabs else body) == delimiter.strip("'\""):
                break
    st.heredocs = []


def _open(st: _State, kind: str, closer: str) -> None:
    if not st.stack and st.open_item is None:
        st.open_item = ("()" if st.pending_function else kind, st.line)
    st.pending_function = False
    st.stack.append(closer)


def _close(st: _State) -> None:
    if st.stack:
        st.stack.pop()
    if not st.stack and st.open_item is not None:
        st.items.append(Item(None, st.open_item[1], st.open_item[0]))
        st.open_item = None


def _end_command(st: _State, op: str) -> None:
    words = st.words
    while words:
        head = words[0]
        if head in _OPENERS:
            _open(st, head, _OPENERS[head])
            words = [] if head in ("for", "select") else words[1:]
        elif head == "case":
            _open(st, "case", "esac")
            st.stack[-1] = "case-pattern"
            words = []
        elif head == "{":
            _open(st, "{", "}")
            words = words[1:]
        elif head in _CLOSERS and (not st.stack or st.stack[-1] in (head, "case-pattern")):
            if head == "esac" or (st.stack and st.stack[-1] == head):
                _close(st)
            words = []  # what follows a closer (`done < file`) redirects the compound
        elif head in _PREFIXES:
            words = words[1:]
        elif head == "function" and len(words) > 1:
            st.functions.add(words[1].removesuffix("()"))
            st.pending_function = True
            words = [w for w in words[2:] if w != "()"]
        else:
            break
    if words:
        depth = len(st.stack)
        cmd = Command(tuple(words), st.cmd_line, depth, st.before, op, st.redirected)
        st.commands.append(cmd)
        if depth == 0 and st.open_item is None:
            st.items.append(Item(cmd, cmd.line))
    st.words = []
    st.redirected = False
    st.redirect_target = False
    st.before = op if op != ";;" else ""
