"""Writes the bundled preference example: 40 questions, each with a concise answer (chosen) and a rambling one
(rejected) that says the same thing buried in filler, hedges and repetition.

Run: python benchmarks/data/make_prefer_set.py   (seeded: the same file every time)
Writes desktune/examples/prefer/train.jsonl as {"prompt", "chosen", "rejected"} rows; desktune/examples/prefer.yaml
trains on it (its default 10% held out). The larger benchmark sets (>= 150 pairs) are still to come.
"""

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent.parent / "desktune" / "examples" / "prefer" / "train.jsonl"

QA = [
    ("How long should I boil an egg?", "Seven minutes for a jammy yolk, ten for a firm one."),
    ("What is the capital of Australia?", "Canberra."),
    ("How many legs does a spider have?", "Eight."),
    ("Why is the sky blue?", "Air scatters blue sunlight more than red, so blue reaches your eyes from every direction."),
    ("How do I keep basil alive?", "Give it sun, water when the topsoil is dry, and pinch off the flower buds."),
    ("What does a thermostat do?", "It switches heating or cooling on and off to hold the temperature you set."),
    ("How far is the Moon?", "About 384,000 kilometres on average."),
    ("What is a haiku?", "A three-line poem of five, seven and five syllables."),
    ("How do I remove a coffee stain?", "Blot it, rinse with cold water, then dab on dish soap and rinse again."),
    ("What is photosynthesis?", "Plants turning light, water and carbon dioxide into sugar and oxygen."),
    ("When should I water a cactus?", "Only when the soil is completely dry, about every two to three weeks."),
    ("What is the boiling point of water?", "100 degrees Celsius at sea level."),
    ("How do I say thank you in Spanish?", "Gracias."),
    ("What causes a rainbow?", "Raindrops bend and split sunlight into its colours."),
    ("How many minutes are in a day?", "1,440."),
    ("What is a prime number?", "A whole number above 1 divisible only by 1 and itself."),
    ("How do I stop hiccups?", "Hold your breath for ten seconds or sip cold water slowly."),
    ("What is the largest ocean?", "The Pacific."),
    ("How do bees make honey?", "They gather nectar, evaporate its water in the hive and store it in wax cells."),
    ("What is inflation?", "Prices rising over time, so money buys less."),
    ("How do I sharpen a pencil without a sharpener?", "Whittle the wood back with a knife, then rub the tip on sandpaper."),
    ("What is the speed of light?", "About 300,000 kilometres per second."),
    ("Why do cats purr?", "Mostly to show contentment, sometimes to soothe themselves when hurt."),
    ("What is a verb?", "A word for an action or a state, like run or be."),
    ("How do I reset my router?", "Hold the reset button for ten seconds, then wait for it to restart."),
    ("What is the tallest mountain?", "Mount Everest, 8,849 metres."),
    ("How can I sleep better?", "Keep a fixed bedtime, a dark cool room, and no screens for the last hour."),
    ("What is gravity?", "The pull between masses; it keeps you on the ground."),
    ("How do I convert Celsius to Fahrenheit?", "Multiply by 9/5 and add 32."),
    ("What do pandas eat?", "Almost only bamboo."),
    ("How many continents are there?", "Seven."),
    ("What is a volcano?", "An opening where molten rock from inside the Earth reaches the surface."),
    ("How do I clean a cast iron pan?", "Scrub with hot water, dry it on the heat, and rub in a little oil."),
    ("What is DNA?", "The molecule that carries the genetic instructions of living things."),
    ("How long does light from the Sun take to reach us?", "About eight minutes."),
    ("What is a noun?", "A word for a person, place, thing or idea."),
    ("How do I make rice fluffy?", "Rinse it, use 1.5 parts water, simmer covered, then rest it ten minutes."),
    ("What is the freezing point of water?", "0 degrees Celsius."),
    ("Why do leaves change colour in autumn?", "The green chlorophyll breaks down and reveals yellow and red pigments."),
    ("How many players are on a football team?", "Eleven on the pitch per side."),
]

OPENERS = ["Great question! There are honestly a lot of things to say about this, so let me take it step by step.",
           "Well, that is something people have wondered about for a very long time, and it deserves some context.",
           "Thanks so much for asking! Before I get to the answer, I think it helps to set the scene a little.",
           "Ah, this is one of those questions that seems simple but actually has a lot of layers to it."]
HEDGES = ["Of course, it can depend on many factors, and different sources may put it slightly differently.",
          "That said, I am not an expert, so you may want to double-check with other resources too.",
          "It is also worth keeping in mind that every situation is a bit different, in many ways."]
CLOSERS = ["So, to sum up everything I have said above: {answer} I hope this long explanation helped!",
           "In short, and to repeat the main point once more: {answer} Let me know if you want even more detail!",
           "Anyway, the bottom line, as I mentioned, is this: {answer} There is always more to learn, of course!"]


def rambling(answer: str, rng: random.Random) -> str:
    """The same answer, buried: an opener, a hedge, the answer, another hedge, and the answer repeated."""
    hedges = rng.sample(HEDGES, 2)
    return " ".join([rng.choice(OPENERS), hedges[0], answer, hedges[1],
                     rng.choice(CLOSERS).format(answer=answer)])


def main() -> None:
    rng = random.Random(25)
    rows = [{"prompt": q, "chosen": a, "rejected": rambling(a, rng)} for q, a in QA]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} pairs to {OUT}")


if __name__ == "__main__":
    main()
