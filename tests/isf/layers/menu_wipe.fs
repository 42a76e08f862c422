/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Layer test transition: its menu, progress and colour as the picture",
    "CATEGORIES": ["Test", "Transition"],
    "INPUTS": [
        {"NAME": "startImage", "TYPE": "image"},
        {"NAME": "endImage", "TYPE": "image"},
        {"NAME": "progress", "TYPE": "float"},
        {"NAME": "pick", "TYPE": "long", "VALUES": [0, 2, 4],
         "LABELS": ["None", "Half", "Full"], "DEFAULT": 0},
        {"NAME": "tint", "TYPE": "color", "DEFAULT": [0.0, 0.0, 1.0, 1.0]}
    ]
}*/

// red: pick / 4 (the VALUES entry, not the menu's index); green: progress; blue: tint.b
void main() { gl_FragColor = vec4(float(pick) / 4.0, progress, tint.b, 1.0); }
