/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Layer test generator: one colour, its alpha kept",
    "CATEGORIES": ["Test", "Generator"],
    "INPUTS": [
        {"NAME": "colour", "TYPE": "color", "DEFAULT": [1.0, 0.0, 0.0, 0.5]}
    ]
}*/

void main() { gl_FragColor = colour; }
