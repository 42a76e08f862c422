/*{
    "DESCRIPTION": "Host test generator: white while the event fires, else dark grey",
    "INPUTS": [{"NAME": "flash", "TYPE": "event"}]
}*/

void main() { gl_FragColor = flash ? vec4(1.0) : vec4(0.25, 0.25, 0.25, 1.0); }
