"""Writes a second tool-calling set, unlike the bundled one: an errands assistant (to-dos, a shop's catalogue,
currency, restaurant tables, stock prices), so a default tuned on the bundled set is tried on rows it was not tuned
on. Every row sends the same five functions in the same order, as an app does; OpenAI messages.

Run: python benchmarks/data/make_errands_set.py [FOLDER]   (default runs/errands-data; seeded: the same files)
Writes train.jsonl (150 rows: 22% need no tool, one in five calls gets its result back and an answer in words,
two-stock requests make two calls), heldout.jsonl (44 rows: phrasings and no-tool questions of their own) and
tools.json.
"""

import json
import random
import sys
from pathlib import Path

from make_tools_set import fn

TOOLS = [
    fn("add_todo", "Add an item to the to-do list.", {
        "title": {"type": "string"}, "due": {"type": "string", "description": "when it is due, as said"},
        "priority": {"type": "string", "enum": ["low", "normal", "high"]}}, ["title"]),
    fn("search_products", "Search the shop's catalogue.", {
        "query": {"type": "string"}, "max_price": {"type": "number", "description": "in euros"},
        "in_stock_only": {"type": "boolean"}}, ["query"]),
    fn("convert_currency", "Convert an amount between currencies.", {
        "amount": {"type": "number"}, "from": {"type": "string", "description": "ISO code"},
        "to": {"type": "string", "description": "ISO code"}}, ["amount", "from", "to"]),
    fn("book_table", "Book a restaurant table.", {
        "restaurant": {"type": "string"}, "people": {"type": "integer"},
        "time": {"type": "string", "description": "HH:MM"}}, ["restaurant", "people"]),
    fn("get_stock_price", "Latest price of a stock.", {"symbol": {"type": "string"}}, ["symbol"]),
]

ITEMS = ["renew passport", "call the plumber", "buy milk", "pay rent", "water the plants", "book dentist",
         "return library books", "fix the bike", "send invoice", "clean the garage", "order printer ink",
         "walk the dog"]
DUES = ["tomorrow", "friday", "next week", "tonight", "monday", "end of month"]
PRODUCTS = ["running shoes", "usb-c cable", "coffee grinder", "yoga mat", "desk lamp", "rain jacket", "headphones",
            "water bottle", "backpack", "phone case"]
CURRENCIES = [("USD", "EUR"), ("EUR", "GBP"), ("GBP", "USD"), ("JPY", "EUR"), ("EUR", "CHF"), ("USD", "CAD")]
RESTAURANTS = ["Luigi's", "the sushi place", "Blue Door", "Casa Verde", "Noodle Bar", "The Oak"]
TIMES = [("7pm", "19:00"), ("8:30pm", "20:30"), ("noon", "12:00"), ("6pm", "18:00"), ("9pm", "21:00")]
SYMBOLS = ["AAPL", "TSLA", "MSFT", "NVDA", "AMZN", "GOOG"]
NO_TOOL = [
    ("what's the capital of australia", "Canberra."),
    ("tell me a joke", "Why did the scarecrow win an award? He was outstanding in his field."),
    ("how many legs does a spider have", "Eight."), ("thanks!", "You're welcome!"), ("what is 12 times 12", "144."),
    ("who wrote hamlet", "William Shakespeare."),
    ("how do I boil an egg", "Put it in boiling water for 9 minutes, then cool it in cold water."),
    ("good morning", "Good morning! What can I do for you?"),
    ("what does ISO stand for", "International Organization for Standardization."),
    ("is coffee bad for you", "In moderation, for most people, no."),
    ("what's a haiku", "A three-line poem of 5, 7 and 5 syllables."), ("how far is the moon", "About 384,000 km."),
    ("name a primary color", "Red."), ("translate hello to spanish", "Hola.")]
HELD_OUT_NO_TOOL = [
    ("what's the tallest mountain", "Mount Everest."), ("can you recommend a book", "Try 'The Hobbit'."),
    ("how many days in a leap year", "366."), ("bye for now", "Bye! Talk soon."),
    ("why is the sea salty", "Rivers carry dissolved minerals into it."),
    ("what's the boiling point of water", "100 degrees Celsius at sea level.")]

TRAIN_PHRASES = {
    "todo": ["add {t} to my list", "remind me to {t}", "put {t} on my todo list", "todo: {t}"],
    "todo_due": ["add {t} due {d}", "remind me to {t} by {d}", "I need to {t} before {d}, add it"],
    "todo_high": ["urgent: {t}", "add {t}, high priority", "{t} is top priority, add it"],
    "search": ["find {p}", "search for {p}", "do you have {p}", "show me {p}"],
    "search_price": ["{p} under {m} euros", "find {p} cheaper than {m}", "search {p} max {m} eur"],
    "search_stock": ["{p} in stock only", "find {p} that are in stock", "any {p} available right now"],
    "convert": ["convert {a} {f} to {to}", "how much is {a} {f} in {to}", "{a} {f} to {to} please"],
    "book": ["book {r} for {n}", "table for {n} at {r}", "reserve {r}, {n} people"],
    "book_time": ["book {r} for {n} at {tt}", "table for {n} at {r} at {tt}", "reserve {r} at {tt} for {n}"],
    "stock": ["price of {s}", "how is {s} doing", "{s} stock price", "what's {s} at"],
    "two_stocks": ["prices of {s} and {s2}", "how are {s} and {s2} doing", "check {s} and {s2}"],
}
HELD_OUT_PHRASES = {
    "todo": ["could you note down: {t}", "don't let me forget to {t}", "new task - {t}"],
    "todo_due": ["new task {t}, due {d}", "{t} by {d} pls"],
    "todo_high": ["high prio task: {t}", "important!! {t}"],
    "search": ["looking for {p}", "got any {p}?"],
    "search_price": ["{p}, budget {m} euros", "need {p} for at most {m} eur"],
    "search_stock": ["{p} - only what's in stock"],
    "convert": ["what's {a} {f} worth in {to}", "change {a} {f} into {to}"],
    "book": ["get us a table at {r}, we are {n}", "can you reserve {r} for {n} of us"],
    "book_time": ["{r}, {n} people, {tt}"],
    "stock": ["quote for {s}", "where's {s} trading"],
    "two_stocks": ["{s} vs {s2} price"],
}
RESULTS = {"add_todo": ({"ok": True}, "Added."), "search_products": ({"results": 3}, "I found 3 matches."),
           "convert_currency": ({"result": 92.5}, "That's 92.5."), "book_table": ({"confirmed": True}, "Booked!"),
           "get_stock_price": ({"price": 187.2}, "It's at 187.2.")}


def request(kind: str, phrases: dict, rng: random.Random) -> tuple[str, list]:
    """A request of this kind in one of its phrasings, and the calls it asks for."""
    t, d, p = rng.choice(ITEMS), rng.choice(DUES), rng.choice(PRODUCTS)
    m, a, (f, to) = rng.choice([20, 35, 50, 80, 120]), rng.choice([10, 25, 100, 250, 1000]), rng.choice(CURRENCIES)
    r, n, (tt, hhmm) = rng.choice(RESTAURANTS), rng.choice([2, 3, 4, 6]), rng.choice(TIMES)
    s, s2 = rng.sample(SYMBOLS, 2)
    text = rng.choice(phrases[kind]).format(t=t, d=d, p=p, m=m, a=a, f=f, to=to, r=r, n=n, tt=tt, s=s, s2=s2)
    calls = {"todo": [("add_todo", {"title": t})], "todo_due": [("add_todo", {"title": t, "due": d})],
             "todo_high": [("add_todo", {"title": t, "priority": "high"})],
             "search": [("search_products", {"query": p})],
             "search_price": [("search_products", {"query": p, "max_price": m})],
             "search_stock": [("search_products", {"query": p, "in_stock_only": True})],
             "convert": [("convert_currency", {"amount": a, "from": f, "to": to})],
             "book": [("book_table", {"restaurant": r, "people": n})],
             "book_time": [("book_table", {"restaurant": r, "people": n, "time": hhmm})],
             "stock": [("get_stock_price", {"symbol": s})],
             "two_stocks": [("get_stock_price", {"symbol": s}), ("get_stock_price", {"symbol": s2})]}[kind]
    return text, calls


def row(rng: random.Random, phrases: dict, no_tool: list, no_tool_share: float) -> dict:
    if rng.random() < no_tool_share:
        question, answer = rng.choice(no_tool)
        return {"tools": TOOLS, "messages": [{"role": "user", "content": question},
                                             {"role": "assistant", "content": answer}]}
    text, calls = request(rng.choice(list(phrases)), phrases, rng)
    tool_calls = [{"type": "function", "function": {"name": name, "arguments": json.dumps(args)}, "id": f"c{i}"}
                  for i, (name, args) in enumerate(calls)]
    messages = [{"role": "user", "content": text}, {"role": "assistant", "tool_calls": tool_calls}]
    if rng.random() < 0.2 and len(calls) == 1:
        result, answer = RESULTS[calls[0][0]]
        messages += [{"role": "tool", "tool_call_id": "c0", "content": json.dumps(result)},
                     {"role": "assistant", "content": answer}]
    return {"tools": TOOLS, "messages": messages}


def write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    write(out / "train.jsonl", [row(rng, TRAIN_PHRASES, NO_TOOL, 0.22) for _ in range(150)])
    rng = random.Random(99)
    write(out / "heldout.jsonl", [row(rng, HELD_OUT_PHRASES, HELD_OUT_NO_TOOL, 0.25) for _ in range(44)])
    (out / "tools.json").write_text(json.dumps(TOOLS, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/errands-data"))
