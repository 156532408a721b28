"""Writes the tool-calling set: a home assistant with six functions, its training rows and held-out requests.

Run: python benchmarks/data/make_tools_set.py   (seeded: the same files every time)
Writes the bundled tool example's data, desktune/examples/tools/: train.jsonl (240 rows), heldout.jsonl (48 rows)
and tools.json (the functions); benchmarks/tools.py trains and scores on those same files.

Rows are OpenAI messages with a `tools` list per row. The held-out requests are written apart from the training
ones: their own phrasings, cities, people, rooms, songs and numbers. Requests are typed as people type them
(lower case, no full stop, a swapped letter now and then); the typos touch the words around a value, never the
value, and string arguments copy the value as the user typed it.
"""

import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent.parent / "desktune" / "examples" / "tools"


def fn(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


TOOLS = [
    fn("get_weather", "Current weather, or a forecast, for a city.",
       {"city": {"type": "string", "description": "city name"},
        "days": {"type": "integer", "description": "days of forecast, 1-7"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}, ["city"]),
    fn("set_thermostat", "Set the heating or cooling target temperature.",
       {"temperature": {"type": "number", "description": "target temperature"},
        "room": {"type": "string", "description": "room name"},
        "mode": {"type": "string", "enum": ["heat", "cool", "auto", "eco"]}}, ["temperature"]),
    fn("add_calendar_event", "Add an event to the user's calendar.",
       {"title": {"type": "string"}, "date": {"type": "string", "description": "the day as the user said it"},
        "time": {"type": "string", "description": "start time, HH:MM 24-hour"},
        "duration_minutes": {"type": "integer"},
        "attendees": {"type": "array", "items": {"type": "string"}}}, ["title", "date"]),
    fn("send_message", "Send a text message to a contact.",
       {"to": {"type": "string", "description": "contact name"}, "text": {"type": "string"},
        "urgent": {"type": "boolean"}}, ["to", "text"]),
    fn("play_music", "Play music on the home speakers.",
       {"query": {"type": "string", "description": "artist, song, genre or playlist"},
        "shuffle": {"type": "boolean"}, "volume": {"type": "integer", "description": "0-100"}}, ["query"]),
    fn("set_timer", "Start a countdown timer.",
       {"minutes": {"type": "integer"}, "label": {"type": "string"}}, ["minutes"]),
]
NAMES = [t["function"]["name"] for t in TOOLS]


class Values:
    """The entities and numbers of one split: training and held-out draw from different pools."""

    def __init__(self, heldout: bool):
        if heldout:
            self.cities = ["Rome", "Helsinki", "Porto", "Kyoto", "Austin", "Geneva", "Krakow", "Montreal", "Lima",
                           "Accra", "Hanoi", "Bergen", "san diego", "edinburgh"]
            self.people = ["Ines", "grandma", "Felix", "Aiko", "Ben", "Nadia", "Raj", "coach"]
            self.rooms = ["nursery", "basement", "guest room", "hallway"]
            self.music = ["Miles Davis", "bossa nova", "Fleetwood Mac", "ambient study music", "Beyonce",
                          "bach cello suites", "90s hip hop"]
            self.temps = [17, 24, 21.5, 19.5, 70, 66, 23.5]
            self.minutes = [(7, "7 minutes"), (12, "12 min"), (35, "35 minutes"), (45, "45 mins"),
                            (120, "two hours"), (8, "8 minutes"), (30, "30 minutes")]
            self.labels = ["rice", "laundry", "bread", "nap", "tea"]
            self.events = ["haircut", "parent teacher meeting", "yoga class", "car service", "book club"]
            self.dates = ["thursday", "sunday", "april 21", "next friday", "dec 5", "the 12th"]
            self.times = [("at 8am", "08:00"), ("at 4:30pm", "16:30"), ("at 11am", "11:00"), ("at 6pm", "18:00"),
                          ("at 13:45", "13:45")]
            self.texts = ["can you feed the cat tonight", "the keys are under the mat", "happy birthday!!",
                          "landed safely", "dinner is at 7", "bring the charger please"]
        else:
            self.cities = ["Paris", "Oslo", "Lyon", "Berlin", "Madrid", "Tokyo", "Boston", "Denver", "Lisbon",
                           "Dublin", "Prague", "Vienna", "Seattle", "Toronto", "Nairobi", "Cairo", "Sydney",
                           "Chicago", "new york", "london", "Mumbai", "Bogota"]
            self.people = ["Maya", "Tom", "mom", "Sam", "Priya", "Luca", "Jonas", "Emma", "dad", "Chloe", "Omar",
                           "Lena", "the landlord"]
            self.rooms = ["living room", "bedroom", "kitchen", "office", "bathroom", "kids room"]
            self.music = ["jazz", "lo-fi beats", "Taylor Swift", "the Beatles", "classical piano", "80s rock",
                          "Daft Punk", "my rainy day playlist", "Adele", "reggae", "Nina Simone", "workout mix"]
            self.temps = [19, 20, 21, 22, 23, 18.5, 20.5, 68, 72, 18, 25]
            self.minutes = [(5, "5 minutes"), (10, "10 minutes"), (15, "15 min"), (20, "20 minutes"),
                            (25, "25 mins"), (40, "40 minutes"), (3, "3 minutes"), (60, "an hour"),
                            (30, "half an hour"), (90, "90 minutes"), (2, "2 min"), (180, "three hours")]
            self.labels = ["pasta", "eggs", "pizza", "the oven", "homework", "cookies", "plants"]
            self.events = ["dentist appointment", "team standup", "lunch with Sara", "gym", "piano lesson",
                           "call the bank", "movie night", "vet visit", "project review"]
            self.dates = ["friday", "monday", "saturday", "june 3", "march 14", "next tuesday", "oct 2",
                          "wednesday", "the 28th", "tuesday"]
            self.times = [("at 3pm", "15:00"), ("at 9am", "09:00"), ("at 10:30", "10:30"), ("at 7:15pm", "19:15"),
                          ("at noon", "12:00"), ("at 2pm", "14:00"), ("at 17:00", "17:00"), ("at 8:45am", "08:45")]
            self.texts = ["running 10 minutes late", "see you at 8", "can you pick up milk", "call me when you can",
                          "the meeting moved to 4", "love you", "i'm outside", "dont forget the tickets"]
        self.durations = [(30, "for 30 minutes"), (60, "for an hour"), (45, "for 45 min"), (90, "for an hour and a half"),
                          (120, "for two hours")]


# Phrasings per function, one pool for training and one for the held-out requests; {slots} are values.
PHRASES = {
    "weather": (["what's the weather in {city}?", "weather {city}", "is it raining in {city}?",
                 "how's the weather looking in {city} right now?", "do i need a jacket in {city} today?",
                 "tell me the weather for {city}.", "hows it outside in {city}"],
                ["any idea what it's like outside in {city}?", "{city} weather pls", "is it cold in {city} now?",
                 "check the weather over in {city} for me"]),
    "forecast": (["give me the {days}-day forecast for {city}", "forecast for {city} for the next {days} days",
                  "what will the weather be in {city} over the next {days} days?"],
                 ["what's {city} looking like for the coming {days} days?", "{days} day forecast {city}"]),
    "thermostat": (["set the thermostat to {temp}", "make it {temp} degrees in the {room}",
                    "turn the {room} to {temp}", "can you set the heat to {temp} please",
                    "change the temperature to {temp}."],
                   ["bump the {room} up to {temp}", "i'd like it at {temp} degrees", "{room} to {temp} please"]),
    "thermostat_mode": (["put the {room} on {mode} at {temp}", "{mode} mode, {temp} degrees",
                         "switch to {mode} and set {temp}"],
                        ["set {mode} mode to {temp} in the {room}", "{temp} degrees on {mode} please"]),
    "event": (["add {title} to my calendar on {date}", "put {title} on {date} {time}",
               "schedule {title} {date} {time}", "create an event {title} for {date} {time} {duration}",
               "remind me about {title} on {date} {time} by adding it to the calendar"],
              ["can you book {title} for {date} {time}", "new calendar entry: {title}, {date} {time} {duration}",
               "pencil in {title} {date}"]),
    "event_with": (["add {title} on {date} {time} with {people}", "schedule {title} with {people} on {date} {time}",
                    "calendar: {title} with {people}, {date}"],
                   ["set up {title} {date} {time}, invite {people}", "{title} on {date}, with {people}"]),
    "message": (["text {to} \"{text}\"", "send a message to {to} saying {text}", "tell {to}: {text}",
                 "message {to} that {text}", "can you text {to} \"{text}\""],
                ["shoot {to} a text: {text}", "let {to} know \"{text}\"", "send {to} this: {text}"]),
    "message_urgent": (["urgent text to {to}: {text}", "send {to} an urgent message saying {text}",
                        "text {to} asap \"{text}\", mark it urgent"],
                       ["it's important, message {to}: {text}", "high priority text to {to} \"{text}\""]),
    "music": (["play {query}", "put on some {query}", "can you play {query}?", "i want to listen to {query}",
               "play {query} at volume {volume}", "play {query} on shuffle", "shuffle {query} at volume {volume}"],
              ["throw on {query}", "could you start {query} on the speakers", "{query} please, volume {volume}",
               "put {query} on shuffle"]),
    "timer": (["set a timer for {minutes}", "timer {minutes}", "start a {minutes} timer for {label}",
               "set a {minutes} timer called {label}", "remind me in {minutes}, timer please"],
              ["countdown {minutes}", "can u time {minutes} for the {label}", "{minutes} timer for {label} pls"]),
}
TWO_CALLS = (["what's the weather in {city} and in {city2}?", "weather in {city} and {city2} please",
              "set a timer for {minutes} and play {query}", "text {to} \"{text}\" and text {to2} \"{text}\"",
              "put on {query} and set the thermostat to {temp}", "compare the weather in {city} vs {city2}"],
             ["how are {city} and {city2} doing weather-wise?", "start {query} and give me a {minutes} timer",
              "send \"{text}\" to both {to} and {to2}"])

# Requests that need no function, answered in words (some near a function's topic, so the choice is taught).
NO_TOOL = ([
    ("what's the capital of australia?", "Canberra."),
    ("how many minutes are in a day", "1,440 minutes."),
    ("tell me a joke", "Why did the scarecrow win an award? He was outstanding in his field."),
    ("hi!", "Hi! How can I help?"),
    ("thanks", "You're welcome!"),
    ("what's a good temperature for sleeping?", "Most people sleep best at around 18 degrees."),
    ("why is the sky blue", "Air scatters blue sunlight more than red, so the sky looks blue."),
    ("how do i boil an egg?", "Simmer it for 7 minutes for a jammy yolk, 10 for a firm one."),
    ("what does a thermostat do", "It keeps a room at the temperature you set by switching the heating or cooling."),
    ("who wrote hamlet", "William Shakespeare."),
    ("how far is the moon?", "About 384,000 km away."),
    ("good morning", "Good morning! What can I do for you?"),
    ("what's 15 times 4", "60."),
    ("is it ok to water plants at night?", "It's fine, but morning is better so the leaves dry."),
    ("can you recommend a book?", "Try The Martian by Andy Weir: funny and gripping."),
    ("what is jazz", "A music style born in New Orleans, built on swing and improvisation."),
    ("how many days until the weekend if today is wednesday", "Two days: Thursday and Friday."),
    ("translate hello to spanish", "Hola."),
    ("what should i cook tonight?", "How about a quick stir-fry with vegetables and rice?"),
    ("are you a robot", "I'm an assistant running on your computer."),
    ("how long should i nap?", "20 minutes is enough to feel fresh without grogginess."),
    ("what's the boiling point of water", "100 degrees Celsius at sea level."),
    ("spell necessary", "N-E-C-E-S-S-A-R-Y."),
    ("ok cool", "Great!"),
    ("how do i convert celsius to fahrenheit?", "Multiply by 9/5 and add 32."),
    ("whats the weather like on mars", "Cold and dusty: around minus 60 degrees on average."),
    ("never mind", "No problem."),
    ("what day comes after tuesday", "Wednesday."),
    ("give me a fun fact", "Octopuses have three hearts."),
    ("how do timers work on phones?", "They count down from the time you set and ring at zero."),
], [
    ("what's the tallest mountain on earth?", "Mount Everest, 8,849 m."),
    ("hello there", "Hi! How can I help?"),
    ("who painted the mona lisa", "Leonardo da Vinci."),
    ("thank you so much", "You're welcome!"),
    ("how many legs does a spider have", "Eight."),
    ("what temperature should a fridge be?", "About 4 degrees."),
    ("what's 9 plus 16", "25."),
    ("give me a tip to fall asleep faster", "Keep the room cool and dark and put the phone away."),
    ("what is a podcast?", "An audio show you can stream or download, in episodes."),
    ("how do you say thank you in french", "Merci."),
    ("is a tomato a fruit", "Yes, botanically it is a fruit."),
    ("cool, that's all", "Great, have a nice day!"),
])

TOOL_RESULT_ANSWERS = {
    "get_weather": lambda a, r: f"It's {r['temp']} degrees and {r['sky']} in {a['city']}.",
    "forecast": lambda a, r: f"{a['city']} over {a['days']} days: {r['sky']}, highs around {r['high']}.",
    "set_thermostat": lambda a, r: f"Done, the {a.get('room', 'house')} is set to {_num(a['temperature'])} degrees.",
    "add_calendar_event": lambda a, r: f"Added {a['title']} on {a['date']}{' at ' + a['time'] if 'time' in a else ''}.",
    "send_message": lambda a, r: f"Sent to {a['to']}.",
    "play_music": lambda a, r: f"Playing {a['query']}.",
    "set_timer": lambda a, r: f"Timer set for {a['minutes']} minutes.",
}
REQUEST_KINDS = ["weather", "forecast", "thermostat", "thermostat_mode", "event", "event_with", "message",
                 "message_urgent", "music", "music", "timer", "timer"]
SKIES = ["sunny", "cloudy", "rainy", "windy", "foggy", "snowy", "clear"]


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def casual(template: str, rng: random.Random) -> str:
    """A phrasing as people type it: lower case, no full stop, now and then a swapped letter or a 'pls'.
    Only words without a {slot} change, so the values stay exactly as the arguments have them."""
    words = template.split(" ")
    if rng.random() < 0.15:
        plain = [i for i, w in enumerate(words) if "{" not in w and len(w) > 4 and w.isalpha()]
        if plain:
            i = rng.choice(plain)
            j = rng.randrange(1, len(words[i]) - 2)
            w = words[i]
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    text = " ".join(words)
    if rng.random() < 0.3:
        text = text.rstrip("?.!")
    if rng.random() < 0.25 and text[0].isalpha() and text[0] != "{":
        text = text[0].upper() + text[1:]
    if rng.random() < 0.08 and "pl" not in template:
        text += " pls"
    return text


class Writer:
    """Builds rows of one split: requests, the calls they should give, and (sometimes) results and answers."""

    def __init__(self, heldout: bool, seed: int):
        self.heldout, self.rng, self.v = heldout, random.Random(seed), Values(heldout)
        self.pool = 1 if heldout else 0
        self.deck: list[tuple[str, str]] = []
        self.kinds: list[str] = []

    def phrase(self, key: str, **slots) -> str:
        """A phrasing filled with the values; self.template keeps the chosen one (which values it mentions)."""
        pool = TWO_CALLS[self.pool] if key == "two" else PHRASES[key][self.pool]
        self.template = self.rng.choice([p for p in pool if _fits(p, slots)])
        return " ".join(casual(self.template, self.rng).format(**slots).split())

    def says(self, slot: str) -> bool:
        return "{" + slot + "}" in self.template

    def request(self) -> tuple[str, list[dict]]:
        """One request needing one call: (what the user types, [call])."""
        if not self.kinds:  # a shuffled deck: every function comes up as often as the others
            self.kinds = self.rng.sample(REQUEST_KINDS, len(REQUEST_KINDS))
        return getattr(self, self.kinds.pop())()

    def weather(self):
        city = self.rng.choice(self.v.cities)
        unit = self.rng.choice([None, None, None, "celsius", "fahrenheit"])
        text = self.phrase("weather", city=city)
        if unit:
            head, pls, _ = text.rstrip("?.!").partition(" pls")
            text = f"{head} in {unit}{pls}"
        return text, [call("get_weather", city=city, unit=unit)]

    def forecast(self):
        city, days = self.rng.choice(self.v.cities), self.rng.choice([2, 3, 5, 7] if not self.heldout else [4, 6, 3])
        return self.phrase("forecast", city=city, days=days), [call("get_weather", city=city, days=days)]

    def thermostat(self):
        temp, room = self.rng.choice(self.v.temps), self.rng.choice(self.v.rooms)
        text = self.phrase("thermostat", temp=_num(temp), room=room)
        return text, [call("set_thermostat", temperature=temp, room=room if self.says("room") else None)]

    def thermostat_mode(self):
        temp, room, mode = self.rng.choice(self.v.temps), self.rng.choice(self.v.rooms), self.rng.choice(
            ["heat", "cool", "eco", "auto"])
        text = self.phrase("thermostat_mode", temp=_num(temp), room=room, mode=mode)
        return text, [call("set_thermostat", temperature=temp, room=room if self.says("room") else None, mode=mode)]

    def event(self, with_people: bool = False):
        title, date = self.rng.choice(self.v.events), self.rng.choice(self.v.dates)
        said, time = self.rng.choice(self.v.times + [("", None)])
        minutes, duration = self.rng.choice(self.v.durations + [(None, "")] * 3)
        people = self.rng.sample(self.v.people, self.rng.choice([1, 2])) if with_people else None
        text = self.phrase("event_with" if with_people else "event", title=title, date=date, time=said,
                           duration=duration, people=" and ".join(people or []))
        return text, [call("add_calendar_event", title=title, date=date, time=time if self.says("time") else None,
                           duration_minutes=minutes if self.says("duration") else None, attendees=people)]

    def event_with(self):
        return self.event(with_people=True)

    def message(self, urgent: bool = False):
        to, words = self.rng.choice(self.v.people), self.rng.choice(self.v.texts)
        text = self.phrase("message_urgent" if urgent else "message", to=to, text=words)
        return text, [call("send_message", to=to, text=words, urgent=True if urgent else None)]

    def message_urgent(self):
        return self.message(urgent=True)

    def music(self):
        query, volume = self.rng.choice(self.v.music), self.rng.choice([20, 30, 40, 50, 60, 80] if not self.heldout
                                                                       else [25, 35, 70])
        text = self.phrase("music", query=query, volume=volume)
        return text, [call("play_music", query=query, shuffle=True if "shuffle" in self.template else None,
                           volume=volume if self.says("volume") else None)]

    def timer(self):
        (minutes, said), label = self.rng.choice(self.v.minutes), self.rng.choice(self.v.labels)
        text = self.phrase("timer", minutes=said, label=label)
        return text, [call("set_timer", minutes=minutes, label=label if self.says("label") else None)]

    def two_calls(self) -> tuple[str, list[dict]]:
        r, v = self.rng, self.v
        city, city2 = r.sample(v.cities, 2)
        to, to2 = r.sample(v.people, 2)
        (minutes, said), query, temp, words = r.choice(v.minutes), r.choice(v.music), r.choice(v.temps), r.choice(v.texts)
        text = self.phrase("two", city=city, city2=city2, minutes=said, query=query, to=to, to2=to2, text=words,
                           temp=_num(temp))
        if self.says("city"):
            return text, [call("get_weather", city=city), call("get_weather", city=city2)]
        if self.says("to"):
            return text, [call("send_message", to=to, text=words), call("send_message", to=to2, text=words)]
        if self.says("temp"):
            return text, [call("play_music", query=query), call("set_thermostat", temperature=temp)]
        first_timer = self.template.index("{minutes}") < self.template.index("{query}")
        timer, music = call("set_timer", minutes=minutes), call("play_music", query=query)
        return text, [timer, music] if first_timer else [music, timer]

    def no_tool(self) -> tuple[str, str]:
        """The next question of a shuffled deck, so each is asked before any comes back."""
        if not self.deck:
            self.deck = self.rng.sample(NO_TOOL[self.pool], len(NO_TOOL[self.pool]))
        question, answer = self.deck.pop()
        return casual(question, self.rng) if self.rng.random() < 0.3 else question, answer

    def tools(self, needed: list[str]) -> list[dict]:
        """All six functions in a random order, or (training, sometimes) a few of them around the needed ones."""
        if self.heldout:
            return TOOLS
        chosen = list(TOOLS)
        if self.rng.random() < 0.3:
            others = [t for t in TOOLS if t["function"]["name"] not in needed]
            chosen = [t for t in TOOLS if t["function"]["name"] in needed] + self.rng.sample(others, self.rng.randint(2, 4))
        self.rng.shuffle(chosen)
        return chosen

    def results(self, calls: list[dict]) -> tuple[list[dict], str]:
        """Tool messages for the calls and the answer in words that sums them up."""
        messages, answers = [], []
        for i, c in enumerate(calls):
            result = self.result(c)
            messages.append({"role": "tool", "tool_call_id": f"call_{i + 1}", "content": json.dumps(result)})
            key = "forecast" if "days" in c["arguments"] else c["name"]
            answers.append(TOOL_RESULT_ANSWERS[key](c["arguments"], result))
        return messages, " ".join(answers)

    def result(self, c: dict) -> dict:
        a = c["arguments"]
        if c["name"] == "get_weather":
            f = a.get("unit") == "fahrenheit"
            temp = self.rng.randint(40, 85) if f else self.rng.randint(-3, 31)
            return {"temp": temp, "sky": self.rng.choice(SKIES), "high": temp + self.rng.randint(1, 5)}
        if c["name"] == "play_music":
            return {"playing": a["query"]}
        return {"ok": True}


def call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": {k: v for k, v in arguments.items() if v is not None}}


def _fits(phrase: str, slots: dict) -> bool:
    return all("{" + k + "}" not in phrase or slots.get(k) not in (None, "") for k in slots)


def openai_calls(calls: list[dict]) -> dict:
    return {"role": "assistant", "content": "", "tool_calls": [
        {"id": f"call_{i + 1}", "type": "function",
         "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}} for i, c in enumerate(calls)]}


def row(w: Writer, turns: list[list[dict]], needed: list[str]) -> dict:
    return {"tools": w.tools(needed), "messages": [m for turn in turns for m in turn]}


def call_turn(w: Writer, text: str, calls: list[dict], with_result: bool) -> list[dict]:
    turn = [{"role": "user", "content": text}, openai_calls(calls)]
    if with_result:
        results, answer = w.results(calls)
        turn += results + [{"role": "assistant", "content": answer}]
    return turn


def split(heldout: bool, counts: dict, seed: int) -> list[dict]:
    """counts: rows of each kind: call (call only), call_result (call, result, answer), two_calls, multi_turn, no_tool."""
    w = Writer(heldout, seed)
    rows = []
    for kind, n in counts.items():
        for i in range(n):
            rows.append(make_row(w, kind, i))
    w.rng.shuffle(rows)
    return rows


def make_row(w: Writer, kind: str, i: int) -> dict:
    if kind == "no_tool":
        question, answer = w.no_tool()
        return row(w, [[{"role": "user", "content": question}, {"role": "assistant", "content": answer}]], [])
    if kind == "two_calls":
        text, calls = w.two_calls()
        return row(w, [call_turn(w, text, calls, with_result=i % 4 != 0)], [c["name"] for c in calls])
    if kind == "multi_turn":  # a call answered, then a second request: another call, or thanks in words
        text, calls = w.request()
        turns = [call_turn(w, text, calls, with_result=True)]
        if i % 3 == 2:
            question, answer = ("thanks!", "You're welcome!") if i % 2 else w.no_tool()
            turns.append([{"role": "user", "content": question}, {"role": "assistant", "content": answer}])
        else:
            text2, calls2 = w.request()
            turns.append(call_turn(w, text2, calls2, with_result=i % 2 == 0))
            calls = calls + calls2
        return row(w, turns, [c["name"] for c in calls])
    text, calls = w.request()
    return row(w, [call_turn(w, text, calls, with_result=kind == "call_result")], [c["name"] for c in calls])


TRAIN = {"call": 80, "call_result": 55, "two_calls": 25, "multi_turn": 20, "no_tool": 60}
HELDOUT = {"call": 26, "call_result": 4, "two_calls": 6, "no_tool": 12}


def build() -> dict[str, str]:
    """File name -> text of every file this script writes."""
    jsonl = lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)  # noqa: E731
    return {"train.jsonl": jsonl(split(False, TRAIN, seed=7)), "heldout.jsonl": jsonl(split(True, HELDOUT, seed=11)),
            "tools.json": json.dumps(TOOLS, indent=1) + "\n"}


def main() -> None:
    files = build()
    EXAMPLE.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (EXAMPLE / name).write_text(text, encoding="utf-8")
    print(f"wrote {', '.join(files)} to {EXAMPLE}")


if __name__ == "__main__":
    main()
