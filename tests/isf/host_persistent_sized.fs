/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Host test: a persistent float sum at the render size, shown in the output",
    "INPUTS": [{"NAME": "increment", "TYPE": "float", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.1}],
    "PASSES": [
        {"TARGET": "sum", "PERSISTENT": true, "FLOAT": true},
        {}
    ]
}*/

void main() {
    if (PASSINDEX == 0) {
        gl_FragColor = IMG_THIS_PIXEL(sum) + vec4(increment);
    } else {
        gl_FragColor = vec4(IMG_THIS_PIXEL(sum).rgb / 4.0, 1.0);
    }
}
